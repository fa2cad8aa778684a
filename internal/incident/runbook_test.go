package incident

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/store"
)

func writeRunbook(t *testing.T, dir, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, RunbookDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, RunbookDir, name+".md"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const threeSteps = "# Checkout down\n\n## Mitigation steps\n\n1. Say hello.\n\n   ```step\n   shell echo hello from ${SERVICE} with s3cr3t-value-42 and pr0d-0nly-value-9\n   ```\n\n" +
	"2. Fail.\n\n```step\nshell\necho about to fail\nexit 3\n```\n\n3. Never runs.\n\n```step\nrestart ${SERVICE}\n```\n"

// TestRunbookStopsAtAFailingStep: a runbook of three steps whose second
// fails: steps one and two are recorded in order with their command,
// masked output, exit code and duration, the run stops, the third step is
// refused and never runs.
func TestRunbookStopsAtAFailingStep(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	writeRunbook(t, f.dir, "checkout", threeSteps)
	inc, err := f.m.Open(context.Background(), OpenRequest{Title: "checkout down", Severity: "P1", Service: "web", By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	run, err := f.m.StartRun(ctx, "checkout", RunRequest{Incident: inc.ID, By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Steps) != 3 || run.Vars["SERVICE"] != "web" || run.Steps[2].Command != "restart web" {
		t.Fatalf("run = %+v", run)
	}
	if _, err := f.m.RunStep(ctx, run.ID, 2, StepRequest{By: "ann"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("step 2 before step 1: %v", err)
	}
	run, err = f.m.RunStep(ctx, run.ID, 1, StepRequest{By: "ann"})
	if err != nil || run.Steps[0].Status != StepOK || *run.Steps[0].ExitCode != 0 {
		t.Fatalf("step 1: %+v, %v", run, err)
	}
	if out := run.Steps[0].Output; out != "hello from web with *** and ***\n" {
		t.Errorf("step 1 output %q: the secret is not masked", out)
	}
	run, err = f.m.RunStep(ctx, run.ID, 2, StepRequest{By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	s2 := run.Steps[1]
	if s2.Status != StepFailed || *s2.ExitCode != 3 || s2.Output != "about to fail\n" || s2.Error != "exit status 3" || run.Status != RunFailed {
		t.Fatalf("step 2 = %+v, run %s", s2, run.Status)
	}
	if _, err := f.m.RunStep(ctx, run.ID, 3, StepRequest{By: "ann"}); !errors.Is(err, ErrRunEnded) {
		t.Errorf("step 3 after a failure: %v", err)
	}
	if got := f.acts.list(); len(got) != 0 {
		t.Errorf("the third step ran: %v", got)
	}
	var steps []Entry
	for _, e := range f.show(inc.ID).Timeline {
		if e.Kind == KindRunbookStep {
			steps = append(steps, e)
		}
	}
	if len(steps) != 3 || !strings.Contains(steps[0].Text, "runbook checkout started by ann (3 steps)") ||
		!strings.Contains(steps[1].Text, "step 1/3 `shell echo hello from ${SERVICE} with *** and ***`: ok (exit 0") ||
		!strings.Contains(steps[2].Text, "step 2/3") || !strings.Contains(steps[2].Text, "failed (exit 3") || !strings.Contains(steps[2].Text, "the runbook stops here") {
		var texts []string
		for _, e := range steps {
			texts = append(texts, e.Text)
		}
		t.Fatalf("runbook entries:\n%s", strings.Join(texts, "\n"))
	}
	d := steps[2].Details
	if d["exit_code"] != float64(3) || d["output"] != "about to fail\n" || d["duration_seconds"] == nil || d["command"] == nil {
		t.Errorf("step 2 details = %v", d)
	}
	raw, _ := json.Marshal(f.show(inc.ID))
	if strings.Contains(string(raw), "s3cr3t-value-42") || strings.Contains(string(raw), "pr0d-0nly-value-9") {
		t.Error("a secret's value is in the incident")
	}
	// Nor in the store's files (the runbook itself holds it, as written).
	filepath.WalkDir(f.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, RunbookDir) {
			return err
		}
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "s3cr3t-value-42") {
			t.Errorf("%s holds the secret's value", p)
		}
		return nil
	})
}

// TestRunbookStepsChangeWhatRuns: restart, rollback and scale steps go
// to the deploy manager as the person running them, and move the incident
// to mitigating; a step may be skipped.
func TestRunbookStepsChangeWhatRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	writeRunbook(t, f.dir, "fix", "# Fix\n\n```step\nrestart web web-1\n```\n```step\nscale ${SERVICE} 4\n```\n```step\nrollback web\n```\n```step\nquery sum(up)\n```\n")
	inc, _ := f.m.Open(context.Background(), OpenRequest{Title: "x", Severity: "P2", Service: "web", By: "ann"})
	ctx := context.Background()
	run, err := f.m.StartRun(ctx, "fix", RunRequest{Incident: inc.ID, By: "ben"})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 4; n++ {
		if run, err = f.m.RunStep(ctx, run.ID, n, StepRequest{By: "ben", Skip: n == 3}); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.acts.list(); !slices.Equal(got, []string{"restart web  web-1 by ben", "scale web  4 by ben"}) {
		t.Errorf("actions = %v", got)
	}
	if run.Status != RunDone || run.Steps[2].Status != StepSkipped || run.Steps[3].Output != "1e+06\n" {
		t.Errorf("run = %+v", run)
	}
	if got := f.show(inc.ID); got.State != StateMitigating || got.TimeToMitigate == nil {
		t.Errorf("incident = %+v", got)
	}
	if _, err := f.m.StartRun(ctx, "fix", RunRequest{}); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("a run without ${SERVICE}: %v", err)
	}
	if _, err := f.m.StartRun(ctx, "../etc/passwd", RunRequest{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a path as a name: %v", err)
	}
	if _, err := f.m.StartRun(ctx, "nope", RunRequest{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing runbook: %v", err)
	}
}

// TestRunsSurviveAKilledServer: a step recorded as running when the
// server died is interrupted after a restart, in the run and the
// timeline; the incident itself is intact.
func TestRunsSurviveAKilledServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, baseConfig())
	writeRunbook(t, f.dir, "slow", "# Slow\n\n```step\nshell sleep 600\n```\n")
	ctx := context.Background()
	inc, _ := f.m.Open(ctx, OpenRequest{Title: "x", Severity: "P2", Service: "web", By: "ann"})
	run, err := f.m.StartRun(ctx, "slow", RunRequest{Incident: inc.ID})
	if err != nil {
		t.Fatal(err)
	}
	// What RunStep writes before it starts the step, then the kill.
	if _, err := f.m.updateRun(ctx, run.ID, func(r *store.RunbookRun, d *runData) error {
		d.Steps[0].Status = StepRunning
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	f.start()
	got, err := f.m.GetRun(ctx, run.ID)
	if err != nil || got.Status != RunInterrupted || got.Steps[0].Status != StepInterrupted {
		t.Fatalf("run after restart = %+v, %v", got, err)
	}
	if after := f.show(inc.ID); after.Title != "x" || !has(after, KindRunbookStep, "interrupted: the server stopped while it ran") {
		t.Errorf("incident after restart:\n%s", strings.Join(kinds(after), "\n"))
	}
}

// TestParseRunbookPositions: unknown kinds and malformed steps are
// positioned errors, all at once.
func TestParseRunbookPositions(t *testing.T) {
	t.Parallel()
	src := "# X\n\n```step\nrestrat web\n```\n\n  ```step\n  scale web many\n  ```\n\n```step\nlogs\n```\n\n```bash\nnot a step\n```\n\n```step\n"
	_, err := ParseRunbook("runbooks/x.md", []byte(src))
	if !errors.Is(err, ErrRunbook) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`runbooks/x.md:4:1: step 1: unknown step kind "restrat" (did you mean "restart"?); a step starts with one of logs, query, restart, rollback, scale, shell`,
		`runbooks/x.md:8:13: step 2: scale web many: the count must be a whole number of at least 1`,
		`runbooks/x.md:12:6: step 3: logs needs a service: ` + "`logs web`" + ` (options: --since 15m, --grep REGEXP)`,
		`runbooks/x.md:19:1: step 4: this code block is never closed: end it with ` + "```",
	}
	var list config.Errors
	errors.As(err, &list)
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheck: a missing runbook file and an unknown step kind are
// positioned errors of tug validate; a default runbook's path is fine; a
// remediation of an unknown alert is refused.
func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeRunbook(t, dir, "bad", "# Bad\n\n```step\nreboot web\n```\n\n```step\nrestart wbe\n```\n")
	src := `version: 1
services:
  web:
    run: ./web
    remediation: [{alert: HighErrorRat, action: rollback}]
alerts:
  - {alert: A, expr: up == 0, runbook: runbooks/missing.md}
  - {alert: B, expr: up == 0, runbook: runbooks/high-error-rate.md}
  - {alert: C, expr: up == 0, runbook: "https://wiki.example.com/c"}
  - {alert: D, expr: up == 0, runbook: runbooks/bad.md}
`
	if err := os.WriteFile(filepath.Join(dir, "tug.yaml"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "tug.yaml"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = Check(cfg, dir, []string{"A", "B", "C", "D", "HighErrorRate"})
	var list config.Errors
	if !errors.As(err, &list) {
		t.Fatalf("Check = %v", err)
	}
	var got []string
	for _, e := range list {
		got = append(got, strings.TrimPrefix(e.Error(), dir+"/"))
	}
	want := []string{
		"tug.yaml:7:31: alerts[0].runbook: runbook runbooks/missing.md does not exist; write it with `tug runbook new missing`",
		`runbooks/bad.md:4:1: step 1: unknown step kind "reboot"; a step starts with one of logs, query, restart, rollback, scale, shell`,
		"tug.yaml:5:20: services.web.remediation[0].alert: unknown alert \"HighErrorRat\" (did you mean \"HighErrorRate\"?): remediation needs an alert of tug.yaml, a rule file or the default packs",
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	writeRunbook(t, dir, "bad", "# Fixed\n\n```step\nrestart wbe\n```\n")
	err = Check(cfg, dir, []string{"HighErrorRate"})
	errors.As(err, &list)
	if len(list) < 2 || !strings.HasSuffix(list[1].Error(), `runbooks/bad.md:4:9: step 1: unknown service "wbe" (did you mean "web"?)`) {
		t.Errorf("errors: %v", err)
	}
}

// TestDefaultRunbooks: every alert of the default packs has a runbook tug
// ships, in the template's shape, and every one parses; `tug runbook new`
// writes the template for other names.
func TestDefaultRunbooks(t *testing.T) {
	t.Parallel()
	c := &config.Config{Version: 1, Services: map[string]*config.Service{"web": {Run: "x", SLO: &config.SLO{Availability: 99}}}, ServiceOrder: []string{"web"},
		Backups: map[string]*config.Backup{"db": {}}, Secrets: &config.Secrets{MaxAge: config.Duration(time.Hour)}}
	seen := 0
	for _, g := range alert.ConfigGroups(c, nil) {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			rb, err := LoadRunbook(t.TempDir(), r.Annotations["runbook"])
			if err != nil {
				t.Errorf("%s: %v", r.Alert, err)
				continue
			}
			if !rb.Default || len(rb.Steps) == 0 {
				t.Errorf("%s: %+v", r.Alert, rb)
			}
			seen++
			for _, sec := range []string{"## Detection", "## Impact", "## Mitigation steps", "## Resolution", "## Follow-up"} {
				if !strings.Contains(rb.Text, sec) {
					t.Errorf("%s lacks %q", rb.Name, sec)
				}
			}
		}
	}
	if seen < 20 || seen < len(DefaultRunbooks()) {
		t.Errorf("%d default alerts seen, %d runbooks shipped: a pack is missing here", seen, len(DefaultRunbooks()))
	}
	tpl := NewRunbook("disk-full")
	rb, err := ParseRunbook("runbooks/disk-full.md", tpl)
	if err != nil || rb.Title != "Disk full" || len(rb.Steps) != 3 {
		t.Errorf("template: %+v, %v", rb, err)
	}
	if got := string(NewRunbook("high-error-rate")); !strings.HasPrefix(got, "# High error rate") {
		t.Errorf("new high-error-rate = %.40q", got)
	}
}
