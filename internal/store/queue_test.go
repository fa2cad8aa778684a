package store

import (
	"context"
	"errors"
	"testing"
)

// TestQueueOfRuns: a queued run starts once, is cancelled only while
// queued, survives a reopen, and its jobs can wait; a follower reads only
// the log lines it has not seen.
func TestQueueOfRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	a, err := s.EnqueueRun(ctx, &Run{Pipeline: "ci", Origin: "push", Commit: "abc", Concurrency: "ci-main", Request: `{"x":1}`})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.EnqueueRun(ctx, &Run{Pipeline: "ci", Origin: "webhook"})
	if err := s.CancelQueued(ctx, b, "superseded by run 3"); err != nil {
		t.Fatal(err)
	}
	if err := s.CancelQueued(ctx, b, "again"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("cancel twice: %v", err)
	}
	s.Close()
	s = openT(t, dir, Options{PID: 4242, ProcessAlive: func(int) bool { return false }})
	defer s.Close()
	q, err := s.QueuedRuns(ctx)
	if err != nil || len(q) != 1 || q[0].ID != a || q[0].Concurrency != "ci-main" || q[0].Request != `{"x":1}` || q[0].QueuedAt.IsZero() {
		t.Fatalf("queued after reopen: %+v %v", q, err)
	}
	if err := s.StartQueued(ctx, a, "/w/run-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.StartQueued(ctx, a, "/w/run-1"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("start twice: %v", err)
	}
	if err := s.CancelQueued(ctx, a, "late"); !errors.Is(err, ErrNotQueued) {
		t.Errorf("cancel a running run as queued: %v", err)
	}
	r, _, _ := s.GetRun(ctx, a)
	if r.Status != StatusRunning || r.PID != 4242 || r.Dir != "/w/run-1" || r.StartedAt.IsZero() {
		t.Errorf("started: %+v", r)
	}
	if err := s.PutJobs(ctx, a, []string{"prod"}); err != nil {
		t.Fatal(err)
	}
	if err := s.StartAttempt(ctx, a, "prod", 1, at(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJobStatus(ctx, a, "prod", StatusSuccess, ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("a final status through SetJobStatus: %v", err)
	}
	if err := s.SetJobStatus(ctx, a, "prod", StatusWaiting, "tug approve r2"); err != nil {
		t.Fatal(err)
	}
	w, err := s.WaitingJobs(ctx)
	if err != nil || len(w[a]) != 1 || w[a][0].Reason != "tug approve r2" {
		t.Errorf("waiting: %+v %v", w, err)
	}
	if err := s.AppendLogs(ctx, a, []LogLine{{Job: "prod", Line: "one"}, {Job: "prod", Line: "two"}}); err != nil {
		t.Fatal(err)
	}
	lines, err := s.LogsSince(ctx, a, map[string]int64{"prod": 1})
	if err != nil || len(lines) != 1 || lines[0].Line != "two" {
		t.Errorf("since 1: %+v %v", lines, err)
	}
}
