package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func intp(v int) *int { return &v }

// newRun creates a run with jobs and returns its id.
func newRun(t *testing.T, s *Store, jobs ...string) int64 {
	t.Helper()
	ctx := context.Background()
	id, err := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutJobs(ctx, id, jobs); err != nil {
		t.Fatal(err)
	}
	return id
}

func jobNames(js []Job) []string {
	var out []string
	for _, j := range js {
		out = append(out, j.Name)
	}
	return out
}

func TestPutJobsKeepsPlanOrder(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	// Not alphabetical, so ordering by name would be caught.
	id := newRun(t, s, "test", "build", "lint (go 1.22)", "deploy")
	if err := s.PutJobs(ctx, id, []string{"after"}); err != nil {
		t.Fatal(err)
	}
	_, jobs, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"test", "build", "lint (go 1.22)", "deploy", "after"}
	if got := jobNames(jobs); !reflect.DeepEqual(got, want) {
		t.Errorf("jobs = %v, want %v", got, want)
	}
	for _, j := range jobs {
		if j.Status != StatusPending || j.Attempts != 0 || j.ExitCode != nil || !j.StartedAt.IsZero() || j.Detail != nil {
			t.Errorf("new job = %+v", j)
		}
	}
}

func TestPutJobsRejects(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "a")
	tests := []struct {
		name string
		run  int64
		jobs []string
		want error
	}{
		{"missing run", 99, []string{"x"}, ErrNotFound},
		{"empty name", id, []string{"x", ""}, ErrInvalid},
		{"duplicate in list", id, []string{"x", "x"}, ErrInvalid},
		{"already recorded", id, []string{"x", "a"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.PutJobs(ctx, tc.run, tc.jobs); !errors.Is(err, tc.want) {
				t.Errorf("PutJobs = %v, want %v", err, tc.want)
			}
		})
	}
	// Rejected batches change nothing ("x" of the last case is not kept).
	_, jobs, _ := s.GetRun(ctx, id)
	if got := jobNames(jobs); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("jobs after rejected puts = %v", got)
	}
}

func TestJobLifecycleWithRetry(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "build", "test")

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.StartAttempt(ctx, id, "test", 1, at(1)))
	_, jobs, _ := s.GetRun(ctx, id)
	if j := jobs[1]; j.Status != StatusRunning || j.Attempts != 1 || !j.StartedAt.Equal(at(1)) {
		t.Errorf("after start: %+v", j)
	}
	must(s.FinishAttempt(ctx, id, "test", 1, StatusFailed, intp(2), at(2)))
	must(s.StartAttempt(ctx, id, "test", 2, at(3)))
	must(s.FinishAttempt(ctx, id, "test", 2, StatusSuccess, intp(0), at(4)))
	detail := json.RawMessage(`{"cache":{"key":"k","hit":false}}`)
	must(s.FinishJob(ctx, id, "test", StatusSuccess, "", intp(0), at(4), detail))
	must(s.FinishJob(ctx, id, "build", StatusSkipped, "condition false", nil, at(5), nil))

	_, jobs, _ = s.GetRun(ctx, id)
	wantTest := Job{RunID: id, Name: "test", Status: StatusSuccess, Attempts: 2, ExitCode: intp(0),
		StartedAt: at(1), FinishedAt: at(4), Detail: detail}
	if !reflect.DeepEqual(jobs[1], wantTest) {
		t.Errorf("test job =\n%+v\nwant\n%+v", jobs[1], wantTest)
	}
	wantBuild := Job{RunID: id, Name: "build", Status: StatusSkipped, FinishedAt: at(5), Reason: "condition false"}
	if !reflect.DeepEqual(jobs[0], wantBuild) {
		t.Errorf("build job =\n%+v\nwant\n%+v", jobs[0], wantBuild)
	}

	atts, err := s.Attempts(ctx, id, "test")
	must(err)
	wantAtts := []Attempt{
		{RunID: id, Job: "test", N: 1, Status: StatusFailed, ExitCode: intp(2), StartedAt: at(1), FinishedAt: at(2)},
		{RunID: id, Job: "test", N: 2, Status: StatusSuccess, ExitCode: intp(0), StartedAt: at(3), FinishedAt: at(4)},
	}
	if !reflect.DeepEqual(atts, wantAtts) {
		t.Errorf("attempts =\n%+v\nwant\n%+v", atts, wantAtts)
	}
	if atts, err := s.Attempts(ctx, id, "build"); err != nil || len(atts) != 0 {
		t.Errorf("attempts of skipped job = %v, %v", atts, err)
	}
}

func TestJobMethodsReject(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id := newRun(t, s, "a")
	if err := s.StartAttempt(ctx, id, "a", 1, at(1)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"start attempt 0", func() error { return s.StartAttempt(ctx, id, "a", 0, at(1)) }, ErrInvalid},
		{"start same attempt twice", func() error { return s.StartAttempt(ctx, id, "a", 1, at(1)) }, ErrInvalid},
		{"start unknown job", func() error { return s.StartAttempt(ctx, id, "nope", 1, at(1)) }, ErrNotFound},
		{"start in unknown run", func() error { return s.StartAttempt(ctx, 99, "a", 1, at(1)) }, ErrNotFound},
		{"finish unknown attempt", func() error { return s.FinishAttempt(ctx, id, "a", 2, StatusSuccess, nil, at(1)) }, ErrNotFound},
		{"finish attempt not final", func() error { return s.FinishAttempt(ctx, id, "a", 1, StatusPending, nil, at(1)) }, ErrInvalid},
		{"finish unknown job", func() error { return s.FinishJob(ctx, id, "nope", StatusSuccess, "", nil, at(1), nil) }, ErrNotFound},
		{"finish job not final", func() error { return s.FinishJob(ctx, id, "a", StatusRunning, "", nil, at(1), nil) }, ErrInvalid},
		{"finish job bad detail", func() error {
			return s.FinishJob(ctx, id, "a", StatusSuccess, "", nil, at(1), json.RawMessage(`{"x":`))
		}, ErrInvalid},
		{"attempts of unknown job", func() error { _, err := s.Attempts(ctx, id, "nope"); return err }, ErrNotFound},
		{"attempts of unknown run", func() error { _, err := s.Attempts(ctx, 99, "a"); return err }, ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The rejected calls changed nothing.
	_, jobs, _ := s.GetRun(ctx, id)
	if j := jobs[0]; j.Status != StatusRunning || j.Attempts != 1 || j.Detail != nil {
		t.Errorf("job after rejected calls = %+v", j)
	}
}
