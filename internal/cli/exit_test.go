package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/secret"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"plain error", errors.New("disk full"), 1},
		{"run failed", silentError{fmt.Errorf("%w: run 3 failed", errFailed)}, 1},
		{"cancelled", context.Canceled, 1},
		{"bad flag", badInputf("unknown flag: --x"), 2},
		{"bad input wrapped twice", fmt.Errorf("run: %w", badInput(errors.New("x"))), 2},
		{"config error", config.Errors{{File: "tug.yaml", Msg: "bad"}}, 2},
		{"one config error", fmt.Errorf("load: %w", &config.Error{File: "tug.yaml", Msg: "bad"}), 2},
		{"unknown pipeline", fmt.Errorf("%w \"x\"", pipeline.ErrUnknownPipeline), 2},
		{"unknown job", fmt.Errorf("%w \"x\"", pipeline.ErrUnknownJob), 2},
		{"invalid plan", fmt.Errorf("%w: cycle", pipeline.ErrInvalidPlan), 2},
		{"missing secret", fmt.Errorf("%w: TOKEN", secret.ErrMissing), 2},
		{"validate --json", silentError{badInput(config.Errors{})}, 2},
		{"server unreachable", fmt.Errorf("dial: %w", errUnreachable), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestBadInputKeepsMessage checks that marking an error as bad input does
// not change what the user reads.
func TestBadInputKeepsMessage(t *testing.T) {
	t.Parallel()
	err := badInput(errors.New("unknown flag: --x"))
	if err.Error() != "unknown flag: --x" {
		t.Errorf("message = %q", err.Error())
	}
	if !errors.Is(err, errBadInput) {
		t.Error("not bad input")
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"build":                  "build",
		"unit[go=1.26]":          "unit go=1.26",
		"unit[go=1.26,os=linux]": "unit go=1.26 os=linux",
		"odd[":                   "odd[",
	}
	for in, want := range tests {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}
