//go:build unix

package server

import (
	"os/exec"
	"syscall"
)

// detach makes cmd its own session, so it outlives the server and does
// not get the terminal's Ctrl-C.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// sendSignal sends sig (terminate or kill) to pid.
func sendSignal(pid int, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(pid, sig)
}
