package store

import (
	"context"
	"errors"
	"testing"
)

func TestCreateAndGetRun(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{PID: 4242})
	ctx := context.Background()
	in := &Run{Pipeline: "ci", Status: "ignored", Branch: "main", Commit: "abc123", Event: "push",
		Trigger: "cli", StartedAt: at(1), FinishedAt: at(9), Dir: "/src"}
	id, err := s.CreateRun(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if id != 1 || in.ID != 1 {
		t.Errorf("id = %d, r.ID = %d; want 1", id, in.ID)
	}
	got, jobs, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Errorf("jobs = %v, want none", jobs)
	}
	want := Run{ID: 1, Pipeline: "ci", Status: StatusRunning, Branch: "main", Commit: "abc123", Event: "push",
		Trigger: "cli", StartedAt: at(1), PID: 4242, Dir: "/src"}
	if *got != want {
		t.Errorf("GetRun =\n%+v\nwant\n%+v", *got, want)
	}

	// Defaults: StartedAt from the clock, explicit PID kept.
	id2, err := s.CreateRun(ctx, &Run{Pipeline: "ci", PID: 7})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ = s.GetRun(ctx, id2)
	if id2 != 2 || !got.StartedAt.Equal(at(0)) || got.PID != 7 {
		t.Errorf("second run = %+v", got)
	}
}

func TestCreateRunRejectsMissingPipeline(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	for _, r := range []*Run{nil, {}} {
		if _, err := s.CreateRun(context.Background(), r); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateRun(%v) = %v, want ErrInvalid", r, err)
		}
	}
}

func TestFinishRun(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	id, _ := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	tests := []struct {
		name    string
		id      int64
		status  string
		wantErr error
	}{
		{"not final", id, StatusRunning, ErrInvalid},
		{"unknown status", id, "done", ErrInvalid},
		{"missing run", 99, StatusSuccess, ErrNotFound},
		{"ok", id, StatusFailed, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.FinishRun(ctx, tc.id, tc.status, at(5))
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("FinishRun = %v, want %v", err, tc.wantErr)
			}
		})
	}
	r, _, _ := s.GetRun(ctx, id)
	if r.Status != StatusFailed || !r.FinishedAt.Equal(at(5)) {
		t.Errorf("run after finish = %+v", r)
	}
}

func TestListRunsNewestFirstWithFilters(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	for _, p := range []string{"ci", "deploy", "ci", "ci", "deploy"} {
		if _, err := s.CreateRun(ctx, &Run{Pipeline: p}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(rs []Run) []int64 {
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	tests := []struct {
		opts ListOptions
		want []int64
	}{
		{ListOptions{}, []int64{5, 4, 3, 2, 1}},
		{ListOptions{Limit: 2}, []int64{5, 4}},
		{ListOptions{Pipeline: "ci"}, []int64{4, 3, 1}},
		{ListOptions{Pipeline: "ci", Limit: 1}, []int64{4}},
		{ListOptions{Pipeline: "nope"}, nil},
	}
	for _, tc := range tests {
		got, err := s.ListRuns(ctx, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if g := ids(got); !equalIDs(g, tc.want) {
			t.Errorf("ListRuns(%+v) = %v, want %v", tc.opts, g, tc.want)
		}
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLatestRun(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	if _, err := s.LatestRun(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestRun on empty store = %v, want ErrNotFound", err)
	}
	s.CreateRun(ctx, &Run{Pipeline: "a"})
	s.CreateRun(ctx, &Run{Pipeline: "b"})
	r, err := s.LatestRun(ctx)
	if err != nil || r.ID != 2 || r.Pipeline != "b" {
		t.Errorf("LatestRun = %+v, %v", r, err)
	}
}

func TestGetRunMissing(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	if _, _, err := s.GetRun(context.Background(), 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRun(3) = %v, want ErrNotFound", err)
	}
}

func TestRunIDsNeverReused(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	s.CreateRun(ctx, &Run{Pipeline: "ci"})
	id2, _ := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if _, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE id = ?`, id2); err != nil {
		t.Fatal(err)
	}
	id3, _ := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if id3 != 3 {
		t.Errorf("id after deleting the newest = %d, want 3", id3)
	}
}
