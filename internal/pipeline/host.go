package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Host runs job scripts as local processes, each attempt in its own
// process group so that stopping it stops everything it started.
type Host struct {
	// Shell is the bash-compatible shell to run scripts with; "" means bash.
	Shell string
}

var _ Executor = (*Host)(nil)

// drainTimeout bounds how long Exec waits for output from a process that
// escaped the job's process group but still holds its stdout.
const drainTimeout = 2 * time.Second

// Exec runs spec.Script with `bash -eo pipefail` in spec.Dir. See Executor
// for the contract; on top of it, background processes the script leaves
// behind are killed when the script exits.
func (h *Host) Exec(ctx context.Context, spec *ExecSpec, out io.Writer) (int, error) {
	shell := h.Shell
	if shell == "" {
		shell = "bash"
	}
	grace := spec.KillGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("job %s not started: %w", spec.Job, err)
	}

	args, cleanup, err := scriptArgs(spec)
	if err != nil {
		return -1, err
	}
	defer cleanup()

	// Our own pipe, not exec's: exec would make Wait block until every
	// background child closed its stdout.
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("job %s: %w", spec.Job, err)
	}
	cmd := exec.Command(shell, args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would inherit tug's own environment
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return -1, fmt.Errorf("job %s: start %s: %w", spec.Job, shell, err)
	}
	pw.Close()
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		io.Copy(out, pr)
	}()
	// Wait for the shell to exit without reaping it: while it is a zombie
	// its pid, which is the group's id, cannot be reused, so signalling
	// the group stays safe.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pgid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()

	stopped := false
	select {
	case <-exited:
	case <-ctx.Done():
		stopped = true
		_ = unix.Kill(-pgid, unix.SIGTERM)
		timer := time.NewTimer(grace)
		// Give the group its grace: done once the shell exited and no one
		// holds the output pipe any more.
		select {
		case <-timer.C:
		case <-bothDone(exited, copied):
		}
		timer.Stop()
	}
	_ = unix.Kill(-pgid, unix.SIGKILL)
	<-exited
	waitErr := cmd.Wait()

	select {
	case <-copied:
	case <-time.After(drainTimeout):
		pr.Close() // a process outside the group holds the pipe; stop reading
		<-copied
	}
	pr.Close()

	if stopped {
		return -1, fmt.Errorf("job %s stopped: %w", spec.Job, context.Cause(ctx))
	}
	if waitErr != nil {
		var ee *exec.ExitError
		if !errors.As(waitErr, &ee) {
			return -1, fmt.Errorf("job %s: %w", spec.Job, waitErr)
		}
	}
	ps := cmd.ProcessState
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ps.ExitCode(), nil
}

// maxArgScript is the longest script passed on the command line (Linux
// caps one argument at 128 KiB); longer ones go through a temp file.
const maxArgScript = 64 << 10

// scriptArgs are the shell's arguments for spec's script: `-c script` with
// the job's name as $0, which saves creating, writing and removing a temp
// file per job; a temp file for scripts too long for an argument.
func scriptArgs(spec *ExecSpec) (args []string, cleanup func(), err error) {
	if len(spec.Script) <= maxArgScript && !strings.ContainsRune(spec.Script, 0) {
		return []string{"-eo", "pipefail", "-c", spec.Script, spec.Job}, func() {}, nil
	}
	f, err := os.CreateTemp("", "tug-job-*.sh")
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: write script: %w", spec.Job, err)
	}
	cleanup = func() { os.Remove(f.Name()) }
	if _, err := io.WriteString(f, spec.Script); err != nil {
		f.Close()
		cleanup()
		return nil, nil, fmt.Errorf("job %s: write script: %w", spec.Job, err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("job %s: write script: %w", spec.Job, err)
	}
	return []string{"-eo", "pipefail", f.Name()}, cleanup, nil
}

// bothDone closes when a and b are both closed.
func bothDone(a, b <-chan struct{}) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		<-a
		<-b
		close(c)
	}()
	return c
}
