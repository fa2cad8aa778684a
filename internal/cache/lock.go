package cache

import (
	"context"
	"os"
	"time"
)

// fileLock is an advisory lock on <cache>/lock shared by every tug process
// using the same state directory. Users of entries and blobs hold it
// shared; garbage collection holds it exclusive, so it never deletes a
// blob another process is about to reference or read. Each holder opens
// its own descriptor: flock locks of one process conflict across
// descriptors, which makes it work between goroutines too.
type fileLock struct{ f *os.File }

// lock takes the lock, polling until ctx ends.
func lockFile(ctx context.Context, path string, exclusive bool) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	delay := time.Millisecond
	for {
		ok, err := tryFlock(f, exclusive)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return &fileLock{f: f}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// unlock releases the lock.
func (l *fileLock) unlock() {
	if l != nil && l.f != nil {
		unflock(l.f)
		l.f.Close()
	}
}
