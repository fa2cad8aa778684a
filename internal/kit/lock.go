package kit

import (
	"context"
	"errors"
	"os"
	"time"
)

// ErrLocked: TryLockFile found the lock held by another holder.
var ErrLocked = errors.New("locked by another holder")

// FileLock is an advisory lock (flock) on a file, shared or exclusive.
// The kernel drops it when its holder dies, so a crash never leaves a
// stale lock. Each holder opens its own descriptor: locks of one process
// conflict across descriptors, so it works between goroutines too. On
// systems without flock a lock always succeeds (safe within one process
// only).
type FileLock struct{ f *os.File }

// TryLockFile opens (creating) path and takes its lock without waiting;
// ErrLocked when another holder has a conflicting one.
func TryLockFile(path string, exclusive bool) (*FileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	ok, err := tryFlock(f, exclusive)
	if err == nil && !ok {
		err = ErrLocked
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &FileLock{f: f}, nil
}

// LockFile is TryLockFile that waits for the lock, polling (1ms doubling
// to 50ms), until ctx ends.
func LockFile(ctx context.Context, path string, exclusive bool) (*FileLock, error) {
	delay := time.Millisecond
	for {
		l, err := TryLockFile(path, exclusive)
		if !errors.Is(err, ErrLocked) {
			return l, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Unlock releases the lock and closes its file. A nil lock is a no-op.
func (l *FileLock) Unlock() {
	if l != nil && l.f != nil {
		unflock(l.f)
		l.f.Close()
		l.f = nil
	}
}
