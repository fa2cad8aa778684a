package cli

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/testkit"
)

func intp(n int) *int { return &n }

// events is a small run: build ok, unit[go=1.26] fails after 12 lines,
// deploy skipped, lint cached, with a test report on unit.
func sampleEvents(t0 time.Time) []pipeline.Event {
	cov := 81.25
	evs := []pipeline.Event{
		{Type: pipeline.EventRunStarted, Jobs: []string{"build", "unit[go=1.26]", "lint", "deploy"}},
		{Type: pipeline.EventJobStarted, Job: "build", Attempt: 1, Time: t0},
		{Type: pipeline.EventJobLog, Job: "build", Attempt: 1, Line: "compiling"},
		{Type: pipeline.EventJobFinished, Job: "build", Attempt: 1, Status: pipeline.StatusSuccess, ExitCode: intp(0), DurationMS: 1234},
		{Type: pipeline.EventJobStarted, Job: "unit[go=1.26]", Attempt: 1, Time: t0},
	}
	for i := 1; i <= 12; i++ {
		evs = append(evs, pipeline.Event{Type: pipeline.EventJobLog, Job: "unit[go=1.26]", Attempt: 1, Line: fmt.Sprintf("line %02d", i)})
	}
	evs = append(evs,
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "unit[go=1.26]", Attempt: 1, Status: pipeline.StatusFailed, ExitCode: intp(1), DurationMS: 2000,
			Report: &pipeline.ReportSummary{Passed: 120, Failed: 2, Skipped: 3, Failures: []string{"TestA", "TestB"}, Coverage: &cov}},
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "lint", Status: pipeline.StatusCached, Cache: &pipeline.CacheInfo{Key: "abc", Hit: true}},
		pipeline.Event{Type: pipeline.EventJobFinished, Job: "deploy", Status: pipeline.StatusSkipped, Reason: "needs unit[go=1.26] failed"},
		pipeline.Event{Type: pipeline.EventRunFinished, Status: pipeline.StatusFailed},
	)
	return evs
}

func sampleResult() *pipeline.Result {
	return &pipeline.Result{RunID: "7", Status: pipeline.StatusFailed, Duration: 3200 * time.Millisecond, Jobs: []pipeline.JobResult{
		{Name: "build", Status: pipeline.StatusSuccess},
		{Name: "unit[go=1.26]", Status: pipeline.StatusFailed},
		{Name: "lint", Status: pipeline.StatusCached},
		{Name: "deploy", Status: pipeline.StatusSkipped},
	}}
}

func noAllow(string) bool { return false }

func TestPlainRenderer(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	r := newPlainRenderer(&b, func(s string) string { return strings.ReplaceAll(s, "compiling", "***") }, noAllow)
	for _, ev := range sampleEvents(time.Now()) {
		r.Observe(ev)
	}
	r.Finish(sampleResult())
	want := []string{
		"[build] ***",
		"[build] ok (1.2s)",
		"[unit go=1.26] line 01",
		"[unit go=1.26] failed (exit 1)",
		"[unit go=1.26] tests: 120 passed, 2 failed, 3 skipped, coverage 81.2%",
		"[unit go=1.26]   FAIL TestA",
		"[lint] cached",
		"[deploy] skipped: needs unit[go=1.26] failed",
		"run 7 failed in 3.2s: 1 ok, 1 cached, 1 failed, 1 skipped",
	}
	got := b.String()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") {
			t.Errorf("missing line %q in:\n%s", w, got)
		}
	}
}

func TestTTYRenderer(t *testing.T) {
	t.Parallel()
	var b testkit.SyncBuffer
	t0 := time.Now()
	r := newTTYRenderer(&b, func(s string) string { return s }, noAllow,
		func() (int, int) { return 100, 40 }, func() time.Time { return t0.Add(1500 * time.Millisecond) }, false)
	evs := sampleEvents(t0)
	// Let the live view draw a frame while unit is running.
	for _, ev := range evs[:8] {
		r.Observe(ev)
	}
	testkit.Poll(5*time.Second, func() bool { return strings.Contains(b.String(), "unit go=1.26") })
	live := b.String()
	if !strings.Contains(live, "✓ build") || !strings.Contains(live, "1.5s") {
		t.Errorf("live frame lacks the finished build or the running job's elapsed time:\n%s", live)
	}
	for _, ev := range evs[8:] {
		r.Observe(ev)
	}
	r.Finish(sampleResult())
	out := b.String()
	for _, w := range []string{
		"✗ unit go=1.26",
		"(exit 1)",
		"lint",
		"cached",
		"skipped (needs unit[go=1.26] failed)",
		"unit go=1.26 failed (exit 1)\n   line 03\n",
		"   line 12\n",
		"unit go=1.26: tests: 120 passed, 2 failed, 3 skipped, coverage 81.2%",
		"   FAIL TestB",
		"run 7 failed in 3.2s",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("missing %q in:\n%s", w, out)
		}
	}
	if strings.Contains(out, "line 02") {
		t.Errorf("summary shows more than the last %d lines:\n%s", tailLines, out)
	}
}

func TestTTYRendererManyJobsFitTheScreen(t *testing.T) {
	t.Parallel()
	var b testkit.SyncBuffer
	r := newTTYRenderer(&b, func(s string) string { return s }, noAllow,
		func() (int, int) { return 60, 10 }, time.Now, false)
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("job%02d", i))
	}
	r.Observe(pipeline.Event{Type: pipeline.EventRunStarted, Jobs: names})
	r.Observe(pipeline.Event{Type: pipeline.EventJobStarted, Job: "job07", Attempt: 1, Time: time.Now()})
	r.mu.Lock()
	rows := r.rows()
	r.mu.Unlock()
	if len(rows) > 8 {
		t.Errorf("%d rows on a 10-row terminal", len(rows))
	}
	if !strings.Contains(strings.Join(rows, "\n"), "job07") || !strings.Contains(rows[len(rows)-1], "49 pending, 50 jobs in all") {
		t.Errorf("rows = %q", rows)
	}
	r.Finish(&pipeline.Result{RunID: "1", Status: pipeline.StatusCancelled})
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	if got := truncate("\x1b[32m✓\x1b[0m abcdef", 4); got != "\x1b[32m✓\x1b[0m ab\x1b[0m" {
		t.Errorf("truncate = %q", got)
	}
	if got := truncate("short", 10); got != "short" {
		t.Errorf("truncate = %q", got)
	}
}
