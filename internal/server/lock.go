package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Files the server keeps in the state directory.
const (
	// PIDFile holds the running server's process ID.
	PIDFile = "server.pid"
	// lockFile is flock'ed for the server's whole life: the kernel drops
	// the lock when the process dies, so a crash never leaves a stale lock.
	lockFile = "server.lock"
)

// ErrRunning: another server already serves this state directory.
var ErrRunning = errors.New("a tug server is already running")

// instanceLock makes one server per state directory.
type instanceLock struct {
	f       *os.File
	pidPath string
}

// acquireLock takes the state directory's lock and writes server.pid, or
// says which server holds it.
func acquireLock(dir string) (*instanceLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("server lock: %w", err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("server lock %s: %w", f.Name(), err)
	}
	pidPath := filepath.Join(dir, PIDFile)
	if !ok {
		f.Close()
		who := "another process"
		if b, err := os.ReadFile(pidPath); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				who = fmt.Sprintf("pid %d", pid)
			}
		}
		return nil, fmt.Errorf("%w (%s) with state directory %s: stop it first, or give this one another --state-dir", ErrRunning, who, dir)
	}
	if err := writeFileAtomic(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		f.Close()
		return nil, fmt.Errorf("server pid file: %w", err)
	}
	return &instanceLock{f: f, pidPath: pidPath}, nil
}

// release removes server.pid and drops the lock.
func (l *instanceLock) release() {
	_ = os.Remove(l.pidPath)
	_ = l.f.Close()
}

// writeFileAtomic writes to a temp file, fsyncs and renames it over
// path, so readers see the old or the new content, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
