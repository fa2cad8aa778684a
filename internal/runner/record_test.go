package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

func TestRecorderStoresRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := st.CreateRun(ctx, &store.Run{Pipeline: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(st, id, slog.New(slog.DiscardHandler))
	for _, ev := range sampleEvents(time.Now()) {
		rec.Observe(ev)
	}
	rec.Close(pipeline.StatusFailed)

	run, jobs, err := st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "failed" || run.FinishedAt.IsZero() {
		t.Errorf("run = %+v", run)
	}
	want := map[string]string{"build": "success", "unit[go=1.26]": "failed", "lint": "cached", "deploy": "skipped"}
	if len(jobs) != len(want) {
		t.Fatalf("jobs = %+v", jobs)
	}
	for _, j := range jobs {
		if j.Status != want[j.Name] {
			t.Errorf("job %s status %s, want %s", j.Name, j.Status, want[j.Name])
		}
		if j.Name == "unit[go=1.26]" {
			var d struct{ Report *pipeline.ReportSummary }
			if err := json.Unmarshal(j.Detail, &d); err != nil || d.Report == nil || d.Report.Passed != 120 {
				t.Errorf("unit detail = %s (%v)", j.Detail, err)
			}
			if j.ExitCode == nil || *j.ExitCode != 1 {
				t.Errorf("unit exit code = %v", j.ExitCode)
			}
		}
		if j.Name == "deploy" && j.Reason != "needs unit[go=1.26] failed" {
			t.Errorf("deploy reason = %q", j.Reason)
		}
	}
	lines, err := st.Logs(ctx, id, "unit[go=1.26]")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 12 || lines[0].Line != "line 01" || lines[11].Line != "line 12" {
		t.Errorf("unit logs = %+v", lines)
	}
}

// TestRecorderFinishesUnstartedRun covers a run the engine refused: the
// recorder still closes it so history shows no phantom running run.
func TestRecorderFinishesUnstartedRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := st.CreateRun(ctx, &store.Run{Pipeline: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	newRecorder(st, id, slog.New(slog.DiscardHandler)).Close(pipeline.StatusFailed)
	run, _, err := st.GetRun(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if run.Status != "failed" {
		t.Errorf("status = %s", run.Status)
	}
}

// sampleEvents is a small run: build ok, unit[go=1.26] fails after 12
// lines with a test report, lint cached, deploy skipped.
func sampleEvents(t0 time.Time) []pipeline.Event {
	one := 1
	evs := []pipeline.Event{
		{Type: pipeline.EventRunStarted, Jobs: []string{"build", "unit[go=1.26]", "lint", "deploy"}},
		{Type: pipeline.EventJobStarted, Job: "build", Attempt: 1, Time: t0},
		{Type: pipeline.EventJobLog, Job: "build", Attempt: 1, Line: "compiling"},
		{Type: pipeline.EventJobFinished, Job: "build", Attempt: 1, Status: pipeline.StatusSuccess},
		{Type: pipeline.EventJobStarted, Job: "unit[go=1.26]", Attempt: 1, Time: t0},
	}
	for i := 1; i <= 12; i++ {
		evs = append(evs, pipeline.Event{Type: pipeline.EventJobLog, Job: "unit[go=1.26]", Attempt: 1, Line: fmt.Sprintf("line %02d", i)})
	}
	return append(evs,
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "unit[go=1.26]", Attempt: 1, Status: pipeline.StatusFailed, ExitCode: &one,
			Report: &pipeline.ReportSummary{Passed: 120, Failed: 2}},
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "lint", Status: pipeline.StatusCached, Cache: &pipeline.CacheInfo{Key: "abc", Hit: true}},
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "deploy", Status: pipeline.StatusSkipped, Reason: "needs unit[go=1.26] failed"},
		pipeline.Event{Type: pipeline.EventRunFinished, Status: pipeline.StatusFailed},
	)
}

// TestRecorderKeepsWaitingJobs: a job waiting for approval is recorded
// waiting (with what to do) and running again when it goes on.
func TestRecorderKeepsWaitingJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := st.CreateRun(ctx, &store.Run{Pipeline: "ci", Origin: OriginPush})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(st, id, slog.New(slog.DiscardHandler))
	rec.Observe(pipeline.Event{Type: pipeline.EventRunStarted, Jobs: []string{"production"}})
	rec.Observe(pipeline.Event{Type: pipeline.EventJobStarted, Job: "production", Attempt: 1})
	rec.Observe(pipeline.Event{Type: pipeline.EventJobWaiting, Job: "production", Attempt: 1, Reason: "run `tug approve r3`"})
	testkit.Eventually(t, 5*time.Second, "the job recorded waiting", func() bool {
		runs, err := List(ctx, st, store.ListOptions{})
		return err == nil && len(runs) == 1 && runs[0].Status == store.StatusWaiting &&
			len(runs[0].Jobs) == 1 && runs[0].Jobs[0].Reason == "run `tug approve r3`"
	})
	rec.Observe(pipeline.Event{Type: pipeline.EventJobResumed, Job: "production", Attempt: 1})
	rec.Close(pipeline.StatusSuccess)
	runs, err := List(ctx, st, store.ListOptions{})
	if err != nil || len(runs) != 1 || runs[0].Status != "success" || runs[0].Event != OriginPush {
		t.Fatalf("runs = %+v (%v)", runs, err)
	}
}
