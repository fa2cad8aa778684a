package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/server"
)

// validation is `tug validate --json`'s answer.
type validation struct {
	File     string            `json:"file"`
	Valid    bool              `json:"valid"`
	Errors   []validationError `json:"errors"`
	Warnings []validationError `json:"warnings"`
}

type validationError struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func (a *app) newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check tug.yaml and report every problem at once",
		Args:  cobra.NoArgs,
		Long: "tug validate checks tug.yaml as the server would: the file's own rules,\n" +
			"every pipeline's plan, PromQL, alert rules and Prometheus rule files\n" +
			"(alert_files), monitoring settings and the proxy's certificate. Every problem\n" +
			"is reported at once as file:line:col: path: message (exit 2). Warnings (an\n" +
			"alert over a metric no configured source produces) do not fail it.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.validate(cmd.Context())
		},
	}
}

func (a *app) validate(ctx context.Context) error {
	path, err := a.configPath()
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	var warnings config.Errors
	if err == nil {
		err = planAll(cfg)
	}
	if err == nil {
		// What the server would refuse beyond the file's own rules.
		warnings, err = server.Check(ctx, cfg)
	}
	if !a.jsonOut {
		if err != nil {
			return err
		}
		for _, w := range warnings {
			fmt.Fprintln(a.errOut, warningText(w))
		}
		jobs := 0
		for _, p := range cfg.Pipelines {
			jobs += len(p.Jobs)
		}
		_, werr := fmt.Fprintf(a.out, "%s: ok (%s, %s, %s)\n", a.displayPath(path),
			plural(len(cfg.Pipelines), "pipeline"), plural(jobs, "job"), plural(len(cfg.Services), "service"))
		return werr
	}
	v := validation{File: a.displayPath(path), Valid: err == nil, Errors: []validationError{}, Warnings: []validationError{}}
	if err != nil {
		v.Errors = toValidationErrors(err, v.File)
	}
	if len(warnings) > 0 {
		v.Warnings = toValidationErrors(warnings, v.File)
	}
	if werr := json.NewEncoder(a.out).Encode(v); werr != nil {
		return werr
	}
	if err != nil {
		return silentError{badInput(err)}
	}
	return nil
}

// planAll plans every pipeline, so problems only the planner sees (an
// impossible matrix reference) are reported by validate too.
func planAll(cfg *config.Config) error {
	var errs []error
	for name := range cfg.Pipelines {
		if _, err := pipeline.NewPlan(cfg, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func toValidationErrors(err error, file string) []validationError {
	var list config.Errors
	var one *config.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = config.Errors{one}
	default:
		return []validationError{{File: file, Message: err.Error()}}
	}
	out := make([]validationError, len(list))
	for i, e := range list {
		out[i] = validationError{File: e.File, Line: e.Pos.Line, Col: e.Pos.Col, Path: e.Path, Message: e.Msg}
	}
	return out
}

// warningText is a warning as validate prints it: positioned, marked.
func warningText(w *config.Error) string {
	cp := *w
	cp.Msg = "warning: " + cp.Msg
	return cp.Error()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
