package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkOpen measures Open on an existing database with some history, the
// cost `tug run` pays before doing anything.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for range 200 {
		id, _ := s.CreateRun(ctx, &Run{Pipeline: "ci"})
		s.PutJobs(ctx, id, []string{"a", "b"})
		s.FinishRun(ctx, id, StatusSuccess, at(1))
	}
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkAppendLogs measures one batch of 100 lines.
func BenchmarkAppendLogs(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	id, _ := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	s.PutJobs(ctx, id, []string{"a"})
	batch := make([]LogLine, 100)
	for i := range batch {
		batch[i] = LogLine{Job: "a", Attempt: 1, Time: at(i), Line: fmt.Sprintf("ok  \tgithub.com/example/pkg%d\t0.%03ds", i, i)}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.AppendLogs(ctx, id, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunLifecycle measures what `tug run` of 10 trivial jobs pays the
// history: open, create the run, record every job, finish, close.
func BenchmarkRunLifecycle(b *testing.B) {
	dir := b.TempDir()
	ctx := context.Background()
	names := []string{"j0", "j1", "j2", "j3", "j4", "j5", "j6", "j7", "j8", "j9"}
	for b.Loop() {
		s, err := Open(ctx, dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		id, err := s.CreateRun(ctx, &Run{Pipeline: "ci"})
		if err != nil {
			b.Fatal(err)
		}
		s.PutJobs(ctx, id, names)
		code := 0
		for i, n := range names {
			s.StartAttempt(ctx, id, n, 1, at(i))
			s.FinishAttempt(ctx, id, n, 1, StatusSuccess, &code, at(i))
			if err := s.FinishJob(ctx, id, n, StatusSuccess, "", &code, at(i), nil); err != nil {
				b.Fatal(err)
			}
		}
		s.FinishRun(ctx, id, StatusSuccess, at(20))
		s.Close()
	}
}
