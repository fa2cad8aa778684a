package cli

import (
	"errors"
	"fmt"

	"github.com/tugdev/tug/internal/api"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/secret"
)

// Exit codes are part of the CLI contract: scripts and CI branch on them.
const (
	exitOK          = 0
	exitFailed      = 1 // a job or deploy failed, or the run was cancelled
	exitBadInput    = 2 // config errors, bad flags, unknown names, missing secrets
	exitUnreachable = 3 // the tug server cannot be reached
)

// Sentinels that commands wrap so exitCode can classify their errors.
var (
	// errBadInput marks a problem with what the user asked for.
	errBadInput = errors.New("bad input")
	// errFailed marks a run that ended failed or cancelled.
	errFailed = errors.New("failed")
	// errUnreachable marks a server that could not be reached.
	errUnreachable = errors.New("cannot reach the tug server")
)

// exitCode is the one place errors become exit codes.
func exitCode(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUnreachable), errors.Is(err, api.ErrUnreachable):
		return exitUnreachable
	case errors.Is(err, errBadInput),
		errors.Is(err, config.ErrInvalid),
		errors.Is(err, pipeline.ErrUnknownPipeline),
		errors.Is(err, pipeline.ErrUnknownJob),
		errors.Is(err, pipeline.ErrInvalidPlan),
		errors.Is(err, secret.ErrMissing),
		errors.Is(err, secret.ErrBadFile):
		return exitBadInput
	default:
		return exitFailed
	}
}

// silentError is an error already reported to the user (a failed run has
// printed its summary); Main only turns it into an exit code.
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

// inputError marks err as bad input without changing its message.
type inputError struct{ err error }

func (e inputError) Error() string        { return e.err.Error() }
func (e inputError) Unwrap() error        { return e.err }
func (e inputError) Is(target error) bool { return target == errBadInput }

// badInput marks err as the user's mistake (exit code 2).
func badInput(err error) error {
	if err == nil || errors.Is(err, errBadInput) {
		return err
	}
	return inputError{err}
}

// badInputf is badInput(fmt.Errorf(format, args...)).
func badInputf(format string, args ...any) error {
	return inputError{fmt.Errorf(format, args...)}
}
