package cli

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// validation is `tug validate --json`'s answer.
type validation struct {
	File   string            `json:"file"`
	Valid  bool              `json:"valid"`
	Errors []validationError `json:"errors"`
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
		RunE: func(*cobra.Command, []string) error {
			return a.validate()
		},
	}
}

func (a *app) validate() error {
	path, err := a.configPath()
	if err != nil {
		return err
	}
	cfg, err := a.loadConfig()
	if err == nil {
		err = planAll(cfg)
	}
	if !a.jsonOut {
		if err != nil {
			return err
		}
		jobs := 0
		for _, p := range cfg.Pipelines {
			jobs += len(p.Jobs)
		}
		_, werr := fmt.Fprintf(a.out, "%s: ok (%s, %s, %s)\n", a.displayPath(path),
			plural(len(cfg.Pipelines), "pipeline"), plural(jobs, "job"), plural(len(cfg.Services), "service"))
		return werr
	}
	v := validation{File: a.displayPath(path), Valid: err == nil, Errors: []validationError{}}
	if err != nil {
		v.Errors = toValidationErrors(err, v.File)
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

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
