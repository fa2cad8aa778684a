// Package cli is the tug command line: cobra commands, output rendering
// and the wiring of the engine rooms for one process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"

	"github.com/tugdev/tug/internal/config"
)

// Main runs tug with the process's arguments and streams and returns the
// exit code. It is the only place that listens to signals: SIGINT and
// SIGTERM cancel the context every command runs under.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, os.Args[1:], Env{
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		LookupEnv: os.LookupEnv,
		Getwd:     os.Getwd,
		TTY:       isatty.IsTerminal(os.Stdout.Fd()),
		Exiting:   true,
		TermSize: func() (int, int) {
			w, h, err := term.GetSize(int(os.Stdout.Fd()))
			if err != nil {
				return 0, 0
			}
			return w, h
		},
	})
}

// Env is what a tug invocation takes from the outside world, so tests
// can run the CLI in-process.
type Env struct {
	// Stdin answers questions (`tug runbook run` asks before each step).
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	Getwd          func() (string, error)
	// TTY says Stdout is a terminal: runs draw a live view.
	TTY bool
	// TermSize gives the terminal's columns and rows (0, 0 if unknown).
	TermSize func() (width, height int)
	// Exiting says the process exits when Run returns, so a command may
	// leave cleanup to the exit (`tug run` skips the history database's
	// close-time checkpoint).
	Exiting bool
}

// Run executes one tug command line and returns its exit code. Errors
// are printed to Stderr as "tug: <msg>", configuration errors one per
// line as "file:line:col: path: msg".
func Run(ctx context.Context, args []string, env Env) int {
	a := newApp(env)
	root := a.rootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err != nil && !a.ran {
		// Cobra failed before any command ran: unknown command, bad
		// flag, wrong number of arguments.
		err = badInput(err)
	}
	a.report(err)
	return exitCode(err)
}

// report prints err to stderr, masked, unless the command already did.
func (a *app) report(err error) {
	if err == nil {
		return
	}
	var quiet silentError
	if errors.As(err, &quiet) {
		return
	}
	if lines := configErrorLines(err); lines != nil {
		for _, l := range lines {
			fmt.Fprintln(a.errOut, a.mask(l))
		}
		return
	}
	msg := err.Error()
	fmt.Fprintln(a.errOut, "tug: "+a.mask(msg))
}

// configErrorLines gives every positioned config error of err, or nil.
func configErrorLines(err error) []string {
	var list config.Errors
	if errors.As(err, &list) {
		lines := make([]string, len(list))
		for i, e := range list {
			lines[i] = e.Error()
		}
		return lines
	}
	var one *config.Error
	if errors.As(err, &one) {
		return []string{one.Error()}
	}
	return nil
}
