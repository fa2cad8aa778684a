//go:build unix

package kit

import (
	"errors"
	"syscall"
)

// Alive reports whether a process with this PID exists (one owned by
// another user counts). It says nothing about which program it is: a PID
// may be reused, so callers that must know compare its start time too.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// GroupAlive reports whether process group pgid has any member left,
// zombies included.
func GroupAlive(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
