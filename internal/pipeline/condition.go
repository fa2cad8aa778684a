package pipeline

import (
	"fmt"
	"maps"

	"github.com/expr-lang/expr"
)

// Values of a job's `when:`.
const (
	WhenOnSuccess = "on_success"
	WhenOnFailure = "on_failure"
	WhenAlways    = "always"
	WhenManual    = "manual"
)

// decide says whether a job whose needs all ended should run. When not,
// it gives the status and reason to record, and whether the job carries
// an upstream failure on (for on_failure jobs further down).
func (r *run) decide(st *jobState) (status Status, reason string, failedChain, ok bool) {
	j := st.job
	when := j.Config.When
	if when == "" {
		when = WhenOnSuccess
	}
	if when == WhenManual && !r.named[j.Name] {
		return StatusSkipped, "manual job: run with --job " + j.Name, false, false
	}
	switch when {
	case WhenAlways:
	case WhenOnFailure:
		failed := false
		for _, n := range j.Needs {
			if need := r.byName[n]; need != nil && need.failedChain {
				failed = true
			}
		}
		if !failed {
			return StatusSkipped, "when: on_failure and no need failed", false, false
		}
	default: // on_success, manual
		for _, n := range j.Needs {
			need := r.byName[n]
			if need == nil {
				continue
			}
			switch need.res.Status {
			case StatusSuccess, StatusCached:
			case StatusFailed:
				if !need.job.Config.AllowFailure {
					return StatusSkipped, "needs " + n + " failed", true, false
				}
			case StatusCancelled:
				return StatusCancelled, "needs " + n + " was cancelled", false, false
			default:
				return StatusSkipped, "needs " + n + " " + string(need.res.Status), need.failedChain, false
			}
		}
	}
	if j.Config.If != "" {
		yes, err := evalIf(j, r.ro.Context)
		if err != nil {
			return StatusFailed, err.Error(), true, false
		}
		if !yes {
			return StatusSkipped, "if: " + j.Config.If + " is false", false, false
		}
	}
	return "", "", false, true
}

// evalIf evaluates a job's `if:` over branch, tag, event, commit, env (the
// run context's env merged with the job's) and matrix.
func evalIf(j *Job, rc RunContext) (bool, error) {
	env := map[string]string{}
	maps.Copy(env, rc.Env)
	maps.Copy(env, j.Env)
	matrix := map[string]string{}
	maps.Copy(matrix, j.Matrix)
	vars := map[string]any{
		"branch": rc.Branch,
		"tag":    rc.Tag,
		"event":  rc.Event,
		"commit": rc.Commit,
		"env":    env,
		"matrix": matrix,
	}
	prog, err := expr.Compile(j.Config.If, expr.Env(vars), expr.AsBool())
	if err != nil {
		return false, fmt.Errorf("if: %q: %v", j.Config.If, err)
	}
	out, err := expr.Run(prog, vars)
	if err != nil {
		return false, fmt.Errorf("if: %q: %v", j.Config.If, err)
	}
	b, _ := out.(bool)
	return b, nil
}
