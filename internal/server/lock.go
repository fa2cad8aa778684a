package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/kit"
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
	lock    *kit.FileLock
	pidPath string
}

// acquireLock takes the state directory's lock and writes server.pid, or
// says which server holds it.
func acquireLock(dir string) (*instanceLock, error) {
	path := filepath.Join(dir, lockFile)
	lock, err := kit.TryLockFile(path, true)
	pidPath := filepath.Join(dir, PIDFile)
	if errors.Is(err, kit.ErrLocked) {
		who := "another process"
		if b, err := os.ReadFile(pidPath); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				who = fmt.Sprintf("pid %d", pid)
			}
		}
		return nil, fmt.Errorf("%w (%s) with state directory %s: stop it first, or give this one another --state-dir", ErrRunning, who, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("server lock %s: %w", path, err)
	}
	if err := kit.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		lock.Unlock()
		return nil, fmt.Errorf("server pid file: %w", err)
	}
	return &instanceLock{lock: lock, pidPath: pidPath}, nil
}

// release removes server.pid and drops the lock.
func (l *instanceLock) release() {
	_ = os.Remove(l.pidPath)
	l.lock.Unlock()
}
