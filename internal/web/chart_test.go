package web

import (
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/runner"
)

func TestFormatValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    float64
		unit string
		want string
	}{
		{0.0123, "seconds", "12.3ms"},
		{0.0000042, "seconds", "4.2µs"},
		{2.5, "seconds", "2.5s"},
		{0, "seconds", "0"},
		{42.5, "percent", "42.5%"},
		{12, "per_minute", "12/min"},
		{1536, "bytes", "1.5 KiB"},
		{30 << 20, "bytes", "30 MiB"},
		{0.0512, "ratio", "5.12%"},
		{1234, "per_second", "1.23k/s"},
		{3, "cores", "3 cores"},
		{2_500_000, "", "2.5M"},
		{42, "", "42"},
	} {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%v, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

// TestChartSVG: the time axis is labelled in the viewer's zone; series,
// thresholds and markers are drawn and their names escaped; the legend
// shows each series' last value in the unit.
func TestChartSVG(t *testing.T) {
	t.Parallel()
	to := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	from := to.Add(-time.Hour)
	c := Chart{Title: "Latency", Unit: "seconds", From: from, To: to,
		Series:     []Series{{Name: evil, Points: []Point{{from, 0.1}, {to, 0.25}}}},
		Thresholds: []Threshold{{Label: "SLO", Value: 0.3}},
		Markers:    []Marker{{Label: "deploy r2", T: to.Add(-10 * time.Minute)}, {Label: "too old", T: from.Add(-time.Hour)}},
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database")
	}
	utc, local := string(c.SVG()), ""
	c.Loc = tokyo
	local = string(c.SVG())
	if !strings.Contains(utc, ">11:30<") || !strings.Contains(local, ">20:30<") {
		t.Errorf("time labels: UTC %v, Tokyo %v", strings.Contains(utc, ">11:30<"), strings.Contains(local, ">20:30<"))
	}
	for _, want := range []string{`class="threshold"`, `SLO 300ms`, `deploy r2 at 20:50:00`, `<polyline class="line"`, "250ms", "&lt;script&gt;"} {
		if !strings.Contains(local, want) {
			t.Errorf("no %q in %s", want, local)
		}
	}
	if strings.Contains(local, "<script>") || strings.Contains(local, "too old") {
		t.Errorf("unescaped name or a marker out of range:\n%s", local)
	}
	parse(t, local)
	bad := Chart{Title: "x", Err: `parse error: "<b>"`, From: from, To: to}
	if s := string(bad.SVG()); !strings.Contains(s, "&lt;b&gt;") || !strings.Contains(s, `class="err"`) {
		t.Errorf("error chart: %s", s)
	}
}

// TestDAG draws each job in the column of its depth, with an edge per
// need, and escapes job names.
func TestDAG(t *testing.T) {
	t.Parallel()
	jobs := []jobRow{
		{JobInfo: runner.JobInfo{Name: "build", Status: "success"}},
		{JobInfo: runner.JobInfo{Name: "test[go=<1>]", Status: "running"}, Needs: []string{"build"}},
		{JobInfo: runner.JobInfo{Name: "lint", Status: "pending"}, Needs: []string{"build"}},
		{JobInfo: runner.JobInfo{Name: "deploy", Status: "pending"}, Needs: []string{"test[go=<1>]", "lint"}},
	}
	s := string(drawDAG(jobs))
	if n := strings.Count(s, `class="edge"`); n != 4 {
		t.Errorf("%d edges, want 4", n)
	}
	if !strings.Contains(s, `<rect x="406"`) || strings.Contains(s, "<1>") || !strings.Contains(s, "st-running") {
		t.Errorf("DAG:\n%s", s)
	}
	decl := pipelineDecl{Stages: []string{"build", "test"}}
	decl.Jobs = map[string]struct {
		Stage     string    `json:"stage"`
		Needs     *[]string `json:"needs"`
		Artifacts []string  `json:"artifacts"`
	}{"b": {Stage: "build"}, "t": {Stage: "test"}}
	run := []runner.JobInfo{{Name: "b"}, {Name: "t[go=1]"}, {Name: "t[go=2]"}}
	if got := decl.needs("t[go=2]", run); len(got) != 1 || got[0] != "b" {
		t.Errorf("needs by stage: %v", got)
	}
}
