package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Two goroutines writing through one Store, and two more through a second
// Store on the same file (as two tug processes would), must all succeed:
// no "database is locked".
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stores := []*Store{openT(t, dir, Options{}), openT(t, dir, Options{})}
	ctx := context.Background()
	const perWriter = 30
	var wg sync.WaitGroup
	errs := make(chan error, 4*perWriter)
	for w := range 4 {
		s := stores[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				id, err := s.CreateRun(ctx, &Run{Pipeline: fmt.Sprintf("w%d", w)})
				if err != nil {
					errs <- err
					return
				}
				if err := s.PutJobs(ctx, id, []string{"a"}); err != nil {
					errs <- err
					return
				}
				if err := s.AppendLogs(ctx, id, []LogLine{{Job: "a", Line: fmt.Sprint(i)}, {Job: "a", Line: "x"}}); err != nil {
					errs <- err
					return
				}
				if err := s.FinishRun(ctx, id, StatusSuccess, at(1)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	runs, err := stores[0].ListRuns(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4*perWriter {
		t.Fatalf("%d runs, want %d", len(runs), 4*perWriter)
	}
	seen := map[int64]bool{}
	for _, r := range runs {
		if seen[r.ID] {
			t.Errorf("run id %d twice", r.ID)
		}
		seen[r.ID] = true
		if r.Status != StatusSuccess {
			t.Errorf("run %d = %s", r.ID, r.Status)
		}
	}
}
