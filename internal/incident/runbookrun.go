package incident

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// Statuses of a runbook run and of its steps.
const (
	RunRunning     = "running"
	RunDone        = "done"
	RunFailed      = "failed"
	RunInterrupted = "interrupted"

	StepPending     = "pending"
	StepRunning     = "running"
	StepOK          = "ok"
	StepFailed      = "failed"
	StepSkipped     = "skipped"
	StepInterrupted = "interrupted"
)

// Limits of a step's execution.
const (
	shellTimeout = 10 * time.Minute
	// maxOutput bounds the output a step keeps.
	maxOutput = 64 << 10
	// logsDefaultSince is how far back a logs step reads.
	logsDefaultSince = 15 * time.Minute
)

// RunRequest starts a runbook run.
type RunRequest struct {
	// Incident whose timeline records the steps (0: none).
	Incident int64 `json:"incident,omitempty"`
	// Service and Environment fill ${SERVICE} and ${ENVIRONMENT}; an
	// incident's are used when they are empty.
	Service     string `json:"service,omitempty"`
	Environment string `json:"environment,omitempty"`
	By          string `json:"by,omitempty"`
}

// StepRequest runs (or skips) the next step of a run.
type StepRequest struct {
	By   string `json:"by,omitempty"`
	Skip bool   `json:"skip,omitempty"`
}

// Run is one execution of a runbook.
type Run struct {
	ID         int64      `json:"id"`
	Runbook    string     `json:"runbook"`
	Incident   int64      `json:"incident,omitempty"`
	By         string     `json:"by"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Status     string     `json:"status"`
	// Vars are the values of ${SERVICE}, ${ENVIRONMENT}, ${INCIDENT}.
	Vars  map[string]string `json:"vars"`
	Steps []StepResult      `json:"steps"`
}

// StepResult is a step of a run, as it ran.
type StepResult struct {
	N    int    `json:"n"`
	Kind string `json:"kind"`
	// Command is the step with its variables filled in.
	Command   string     `json:"command"`
	Status    string     `json:"status"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Output    string     `json:"output,omitempty"`
	Duration  float64    `json:"duration_seconds,omitempty"`
	Error     string     `json:"error,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	By        string     `json:"by,omitempty"`
	// Context is the runbook's text before the step.
	Context string `json:"context,omitempty"`
}

// runData is a run's JSON in the store. Shell scripts are read from the
// runbook when their step runs, not stored: a script that writes out a
// secret must not leave it in the store.
type runData struct {
	Vars  map[string]string `json:"vars"`
	Steps []StepResult      `json:"steps"`
}

var placeholder = regexp.MustCompile(`\$\{(SERVICE|ENVIRONMENT|INCIDENT)\}`)

// StartRun starts runbook name: it parses the runbook, fills in its
// variables and records the run (nothing runs yet; RunStep runs each
// step in turn).
func (m *Manager) StartRun(ctx context.Context, name string, req RunRequest) (*Run, error) {
	rb, err := LoadRunbook(m.o.Dir, name)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{"SERVICE": req.Service, "ENVIRONMENT": req.Environment, "INCIDENT": ""}
	if req.Incident > 0 {
		rec, err := m.get(ctx, req.Incident)
		if err != nil {
			return nil, err
		}
		vars["INCIDENT"] = strconv.FormatInt(rec.ID, 10)
		if vars["SERVICE"] == "" {
			vars["SERVICE"] = rec.Service
		}
		if vars["ENVIRONMENT"] == "" {
			vars["ENVIRONMENT"] = rec.Environment
		}
	}
	by := byOr(req.By)
	d := runData{Vars: vars}
	mask := m.masker(ctx)
	for _, st := range rb.Steps {
		cmd := st.Command
		if st.Kind != StepShell { // bash expands ${SERVICE} itself, from the environment
			for _, v := range placeholder.FindAllStringSubmatch(cmd, -1) {
				if vars[v[1]] == "" {
					return nil, fmt.Errorf("%w: runbook %s, step %d (%s): ${%s} is not known: give --%s or --incident", ErrInvalid,
						rb.Name, st.N, st.Command, v[1], strings.ToLower(v[1]))
				}
			}
			cmd = placeholder.ReplaceAllStringFunc(cmd, func(s string) string { return vars[s[2:len(s)-1]] })
		}
		d.Steps = append(d.Steps, StepResult{N: st.N, Kind: st.Kind, Command: mask.Mask(cmd), Status: StepPending, Context: st.Context})
	}
	b, _ := json.Marshal(d)
	r := &store.RunbookRun{Runbook: rb.Name, IncidentID: req.Incident, Who: by, StartedAt: m.now(), Status: RunRunning, Data: string(b)}
	if len(d.Steps) == 0 {
		r.Status, r.FinishedAt = RunDone, r.StartedAt
	}
	if err := m.st.CreateRunbookRun(ctx, r); err != nil {
		return nil, err
	}
	if req.Incident > 0 {
		m.addEntries(ctx, req.Incident, entry(r.StartedAt, KindRunbookStep, "", fmt.Sprintf("runbook %s started by %s (%d steps)", rb.Name, by, len(d.Steps)),
			entryData{Source: "runbook", Who: by, Details: map[string]any{"runbook": rb.Name, "run": r.ID}}))
	}
	return runOf(r)
}

func runOf(r *store.RunbookRun) (*Run, error) {
	var d runData
	if err := json.Unmarshal([]byte(r.Data), &d); err != nil {
		return nil, fmt.Errorf("runbook run %d: bad stored data: %w", r.ID, err)
	}
	out := &Run{ID: r.ID, Runbook: r.Runbook, Incident: r.IncidentID, By: r.Who, StartedAt: r.StartedAt, Status: r.Status,
		Vars: d.Vars, Steps: d.Steps, FinishedAt: timePtr(r.FinishedAt)}
	if out.Steps == nil {
		out.Steps = []StepResult{}
	}
	return out, nil
}

// GetRun returns a runbook run.
func (m *Manager) GetRun(ctx context.Context, id int64) (*Run, error) {
	r, err := m.st.GetRunbookRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: runbook run %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return runOf(r)
}

// RunStep runs step n of run id, which must be its next pending step, or
// skips it. The step is recorded as running before it starts (a server
// killed meanwhile leaves it interrupted), then with its command, masked
// output, exit code and duration, in the run and in the incident's
// timeline. A failed step ends the run: later steps are refused.
func (m *Manager) RunStep(ctx context.Context, id int64, n int, req StepRequest) (*Run, error) {
	by := byOr(req.By)
	var step StepResult
	var script string
	var vars map[string]string
	var incident int64
	var runbook string
	started := m.now()
	rec, err := m.updateRun(ctx, id, func(r *store.RunbookRun, d *runData) error {
		if r.Status != RunRunning {
			return fmt.Errorf("%w: run %d of %s is %s", ErrRunEnded, id, r.Runbook, r.Status)
		}
		next := 0
		for i, s := range d.Steps {
			if s.Status == StepPending {
				next = i + 1
				break
			}
		}
		if n != next {
			return fmt.Errorf("%w: step %d of run %d: the next step is %d", ErrInvalid, n, id, next)
		}
		s := &d.Steps[n-1]
		s.By, s.StartedAt = by, &started
		if req.Skip {
			s.Status = StepSkipped
		} else {
			s.Status = StepRunning
		}
		if n == len(d.Steps) && req.Skip {
			r.Status, r.FinishedAt = RunDone, started
		}
		step, vars, incident, runbook = *s, d.Vars, r.IncidentID, r.Runbook
		return nil
	})
	if err != nil {
		return nil, err
	}
	if step.Kind == StepShell && !req.Skip {
		if script, err = m.scriptOf(ctx, runbook, step); err != nil {
			step.Status = StepFailed
			return m.endStep(ctx, id, n, step, 2, "", err, 0, incident, runbook, by)
		}
	}
	total := 0
	if run, err := runOf(rec); err == nil {
		total = len(run.Steps)
	}
	if req.Skip {
		if incident > 0 {
			m.addEntries(ctx, incident, entry(started, KindRunbookStep, "", fmt.Sprintf("runbook %s step %d/%d `%s` skipped by %s", runbook, n, total, oneLine(step.Command), by),
				entryData{Source: "runbook", Who: by, Details: map[string]any{"runbook": runbook, "run": id, "step": n, "command": step.Command, "status": StepSkipped}}))
		}
		return runOf(rec)
	}
	code, output, runErr := m.execStep(ctx, step, script, vars, by)
	return m.endStep(ctx, id, n, step, code, output, runErr, m.now().Sub(started), incident, runbook, by)
}

// endStep records how step n of run id ended, in the run and in the
// incident's timeline; a failure ends the run.
func (m *Manager) endStep(ctx context.Context, id int64, n int, step StepResult, code int, output string, runErr error, took time.Duration,
	incident int64, runbook, by string) (*Run, error) {
	mask := m.masker(ctx)
	output = truncate(mask.Mask(output), maxOutput)
	total := 0
	rec, err := m.updateRun(context.WithoutCancel(ctx), id, func(r *store.RunbookRun, d *runData) error {
		total = len(d.Steps)
		s := &d.Steps[n-1]
		s.ExitCode, s.Output, s.Duration = &code, output, took.Seconds()
		s.Status = StepOK
		if runErr != nil || code != 0 {
			s.Status = StepFailed
			if runErr != nil {
				s.Error = mask.Mask(runErr.Error())
			} else {
				s.Error = fmt.Sprintf("exit status %d", code)
			}
			r.Status, r.FinishedAt = RunFailed, m.now()
		} else if n == len(d.Steps) {
			r.Status, r.FinishedAt = RunDone, m.now()
		}
		step = *s
		return nil
	})
	if err != nil {
		return nil, err
	}
	if incident > 0 {
		text := fmt.Sprintf("runbook %s step %d/%d `%s`: %s (exit %d, %s)", runbook, n, total, oneLine(step.Command), step.Status, code, round(took))
		if step.Status == StepFailed {
			text += "; the runbook stops here: " + truncate(step.Error, 300)
		}
		m.addEntries(ctx, incident, entry(m.now(), KindRunbookStep, "", text, entryData{Source: "runbook", Who: by, Details: map[string]any{
			"runbook": runbook, "run": id, "step": n, "kind": step.Kind, "command": step.Command, "status": step.Status,
			"exit_code": code, "output": truncate(output, 4096), "duration_seconds": took.Seconds(), "error": step.Error}}))
		if step.Status == StepOK && (step.Kind == StepRollback || step.Kind == StepRestart || step.Kind == StepScale) {
			m.mitigating(ctx, incident, by, "runbook "+runbook+": "+step.Command)
		}
	}
	return runOf(rec)
}

// scriptOf reads a shell step's script from its runbook again; a runbook
// changed since the run started (the step is no longer the same) is
// refused.
func (m *Manager) scriptOf(ctx context.Context, runbook string, step StepResult) (string, error) {
	rb, err := LoadRunbook(m.o.Dir, runbook)
	if err != nil {
		return "", err
	}
	if step.N > len(rb.Steps) || rb.Steps[step.N-1].Kind != StepShell || m.masker(ctx).Mask(rb.Steps[step.N-1].Command) != step.Command {
		return "", fmt.Errorf("%w: runbook %s changed since the run started: step %d is no longer `%s`; start a new run", ErrRunEnded, runbook, step.N, step.Command)
	}
	return rb.Steps[step.N-1].Script, nil
}

// updateRun is store.UpdateRunbookRun with the run's data decoded.
func (m *Manager) updateRun(ctx context.Context, id int64, fn func(r *store.RunbookRun, d *runData) error) (*store.RunbookRun, error) {
	rec, err := m.st.UpdateRunbookRun(ctx, id, func(r *store.RunbookRun) error {
		var d runData
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil {
			return fmt.Errorf("runbook run %d: bad stored data: %w", id, err)
		}
		if err := fn(r, &d); err != nil {
			return err
		}
		b, _ := json.Marshal(d)
		r.Data = string(b)
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: runbook run %d", ErrNotFound, id)
	}
	return rec, err
}

// execStep runs one step; code is its exit code (0 ok, 1 failed for the
// steps that are not scripts).
func (m *Manager) execStep(ctx context.Context, s StepResult, script string, vars map[string]string, by string) (int, string, error) {
	args := strings.Fields(s.Command)[1:]
	switch s.Kind {
	case StepShell:
		return m.shell(ctx, script, vars)
	case StepLogs:
		if m.o.Logs == nil {
			return 1, "", errors.New("this server keeps no logs")
		}
		service, since, grep, err := logsArgs(args)
		if err != nil {
			return 2, "", err
		}
		back := logsDefaultSince
		if since != "" {
			back, _ = kit.ParseDuration(since)
		}
		q := logs.Query{Service: service, Env: vars["ENVIRONMENT"], Since: m.now().Add(-back), Limit: 200}
		if grep != "" {
			q.Grep = regexp.MustCompile(grep)
		}
		lines, err := m.o.Logs.Search(ctx, q)
		if err != nil {
			return 1, "", err
		}
		var b strings.Builder
		for _, l := range lines {
			fmt.Fprintf(&b, "%s %s %s\n", l.Time.Format("15:04:05.000"), l.Instance, l.Text)
		}
		if len(lines) == 0 {
			b.WriteString("(no lines)\n")
		}
		return 0, b.String(), nil
	case StepQuery:
		if m.o.Query == nil {
			return 1, "", errors.New("this server has no metrics to query")
		}
		expr := strings.TrimSpace(strings.TrimPrefix(s.Command, StepQuery))
		v, err := m.o.Query(ctx, expr)
		if err != nil {
			return 1, "", err
		}
		return 0, formatValue(v) + "\n", nil
	}
	if m.o.Actions == nil {
		return 1, "", errors.New("this server cannot change what runs")
	}
	env := vars["ENVIRONMENT"]
	switch s.Kind {
	case StepRestart:
		inst := ""
		if len(args) > 1 {
			inst = args[1]
		}
		id, err := m.o.Actions.Restart(ctx, args[0], env, inst, by)
		if err != nil {
			return 1, "", err
		}
		return 0, fmt.Sprintf("restarted: %s took the place of %s\n", id, orFirst(inst)), nil
	case StepRollback:
		live, err := m.o.Actions.Rollback(ctx, args[0], env, by)
		if err != nil {
			return 1, "", err
		}
		return 0, fmt.Sprintf("rolled back: %s is live\n", live), nil
	case StepScale:
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 1 {
			return 2, "", fmt.Errorf("scale %s %s: the count must be a whole number of at least 1", args[0], args[1])
		}
		before, after, err := m.o.Actions.Scale(ctx, args[0], env, n, by)
		if err != nil {
			return 1, "", err
		}
		return 0, fmt.Sprintf("scaled %s from %d to %d instances\n", args[0], before, after), nil
	}
	return 2, "", fmt.Errorf("unknown step kind %q", s.Kind)
}

// oneLine is a command's first line, with … when it has more.
func oneLine(cmd string) string {
	if first, _, more := strings.Cut(cmd, "\n"); more {
		return first + " …"
	}
	return cmd
}

func orFirst(inst string) string {
	if inst == "" {
		return "the first instance"
	}
	return inst
}

// shell runs a script with bash -eo pipefail in the project's directory,
// the variables in its environment and tug itself on its PATH.
func (m *Manager) shell(ctx context.Context, script string, vars map[string]string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, shellTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-eo", "pipefail", "-c", script)
	cmd.Dir = m.o.Dir
	env := os.Environ()
	if exe, err := os.Executable(); err == nil {
		env = append(env, "PATH="+filepath.Dir(exe)+string(os.PathListSeparator)+os.Getenv("PATH"))
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	env = append(append(env, "TUG_INCIDENT="+vars["INCIDENT"]), m.o.ShellEnv...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), nil
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode(), out.String(), nil
	case ctx.Err() != nil:
		return 124, out.String(), fmt.Errorf("the script ran longer than %s and was stopped", shellTimeout)
	}
	return 127, out.String(), err
}

// masker hides every secret value a step could see.
func (m *Manager) masker(ctx context.Context) *secret.Masker {
	var vals []secret.Value
	if m.o.SecretValues != nil {
		vals = m.o.SecretValues(ctx)
	}
	mk, _ := secret.NewMasker(vals...)
	return mk
}

// recoverRuns marks the steps and runs a killed server left running as
// interrupted, in the runs and the incidents' timelines.
func (m *Manager) recoverRuns(ctx context.Context) error {
	runs, err := m.st.RunbookRuns(ctx, 0, RunRunning)
	if err != nil {
		return err
	}
	for _, r := range runs {
		var cut *StepResult
		rec, err := m.updateRun(ctx, r.ID, func(r *store.RunbookRun, d *runData) error {
			for i := range d.Steps {
				if d.Steps[i].Status == StepRunning {
					d.Steps[i].Status, d.Steps[i].Error = StepInterrupted, "the server stopped while the step ran; its effect is unknown"
					s := d.Steps[i]
					cut = &s
					r.Status, r.FinishedAt = RunInterrupted, m.now()
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if cut != nil && rec.IncidentID > 0 {
			m.addEntries(ctx, rec.IncidentID, entry(m.now(), KindRunbookStep, "", fmt.Sprintf("runbook %s step %d `%s` interrupted: the server stopped while it ran",
				rec.Runbook, cut.N, cut.Command), entryData{Source: "runbook", Who: Tug, Details: map[string]any{"run": rec.ID, "step": cut.N, "status": StepInterrupted}}))
		}
	}
	return nil
}
