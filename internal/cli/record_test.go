package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
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
