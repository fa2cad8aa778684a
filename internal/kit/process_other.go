//go:build !unix

package kit

import "os"

// Alive reports whether a process with this PID exists.
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	return err == nil && p != nil
}

// GroupAlive reports whether process group pgid has any member left;
// without process groups, whether its leader lives.
func GroupAlive(pgid int) bool { return Alive(pgid) }
