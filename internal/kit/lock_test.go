//go:build unix

package kit

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestFileLockExclusiveAndShared(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "lock")
	ex, err := TryLockFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLockFile(path, false); !errors.Is(err, ErrLocked) {
		t.Fatalf("shared lock beside an exclusive one: err = %v, want ErrLocked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := LockFile(ctx, path, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("LockFile on a held lock: err = %v, want the context's", err)
	}
	got := make(chan error, 1)
	go func() {
		l, err := LockFile(context.Background(), path, false)
		l.Unlock()
		got <- err
	}()
	ex.Unlock()
	ex.Unlock() // idempotent
	if err := <-got; err != nil {
		t.Fatalf("LockFile after the holder let go: %v", err)
	}
	a, err := TryLockFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Unlock()
	b, err := TryLockFile(path, false)
	if err != nil {
		t.Fatalf("two shared locks: %v", err)
	}
	b.Unlock()
}
