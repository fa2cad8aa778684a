package store

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// detachEnv makes the test binary act as `tug run`: record a run, Detach
// and exit (see TestMain).
const detachEnv = "TUG_STORE_TEST_DETACH_DIR"

func detachProcess(dir string) int {
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	id, err := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if err == nil {
		err = s.Batch(ctx, func(b *Batch) error {
			code := 0
			if err := b.PutJobs(id, []string{"a"}); err != nil {
				return err
			}
			if err := b.StartAttempt(id, "a", 1, at(1)); err != nil {
				return err
			}
			if err := b.AppendLogs(id, []LogLine{{Job: "a", Attempt: 1, Time: at(1), Line: "hello"}}); err != nil {
				return err
			}
			if err := b.FinishAttempt(id, "a", 1, StatusSuccess, &code, at(2)); err != nil {
				return err
			}
			if err := b.FinishJob(id, "a", StatusSuccess, "", &code, at(2), nil); err != nil {
				return err
			}
			return b.FinishRun(id, StatusSuccess, at(3))
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s.Detach()
	return 0
}

// A process that Detaches instead of closing leaves everything it
// committed in the WAL, and the next Open reads it back.
func TestDetachKeepsCommittedHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), detachEnv+"="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName+"-wal")); err != nil || fi.Size() == 0 {
		t.Fatalf("no WAL left behind (%v): the test does not exercise recovery", err)
	}
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.ListRuns(ctx, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 {
		t.Fatalf("runs %+v, want 2", runs)
	}
	for _, r := range runs {
		if r.Status != StatusSuccess {
			t.Errorf("run %d status %s, want success", r.ID, r.Status)
		}
		lines, err := s.Logs(ctx, r.ID, "a")
		if err != nil || len(lines) != 1 || lines[0].Line != "hello" {
			t.Errorf("run %d logs %+v (%v)", r.ID, lines, err)
		}
	}
}

// A failing write in a Batch rolls back the whole batch.
func TestBatchIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.CreateRun(ctx, &Run{Pipeline: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Batch(ctx, func(b *Batch) error {
		if err := b.PutJobs(id, []string{"a"}); err != nil {
			return err
		}
		return b.StartAttempt(id, "nosuch", 1, at(1))
	})
	if err == nil {
		t.Fatal("batch with a bad write succeeded")
	}
	_, jobs, err := s.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 0 {
		t.Fatalf("jobs %+v stored by a failed batch", jobs)
	}
}
