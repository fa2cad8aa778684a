package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// renderer shows a run to the user.
//
// Contract: Observe follows pipeline.Observer's (serialised calls, no
// blocking, no retained slices). Finish is called once, after the
// engine's Run returned, with its result; nothing is called after it.
type renderer interface {
	pipeline.Observer
	Finish(res *pipeline.Result)
}

// displayName prints an instance name the way humans read it:
// "unit[go=1.26,os=linux]" becomes "unit go=1.26 os=linux".
func displayName(job string) string { return pipeline.DisplayName(job) }

// jobMatches says whether want names instance: its ID ("test[race=false]"),
// its base job ("test", all its instances) or the name the output shows
// ("test race=false"), so whatever a person copies from the output works.
func jobMatches(instance, want string) bool { return pipeline.MatchesJob(instance, want) }

// fmtDuration is short and stable: "0.4s", "12s", "3m05s".
func fmtDuration(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%.0fs", d.Seconds())
	default:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
}

func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }

// statusText is the end of a job's status line, the same words on every
// output: "ok (1.2s)", "failed (exit 1)", "skipped: needs build failed",
// "cached".
func statusText(ev pipeline.Event) string {
	switch ev.Status {
	case pipeline.StatusSuccess:
		return "ok (" + fmtDuration(msDuration(ev.DurationMS)) + ")"
	case pipeline.StatusCached:
		return "cached"
	case pipeline.StatusFailed:
		if ev.ExitCode != nil && *ev.ExitCode >= 0 {
			s := fmt.Sprintf("failed (exit %d)", *ev.ExitCode)
			if ev.Reason != "" && !strings.HasPrefix(ev.Reason, "exit") {
				s += ": " + ev.Reason
			}
			return s
		}
		if ev.Reason != "" {
			return "failed: " + ev.Reason
		}
		return "failed"
	case pipeline.StatusSkipped, pipeline.StatusCancelled:
		if ev.Reason != "" {
			return string(ev.Status) + ": " + ev.Reason
		}
		return string(ev.Status)
	default:
		return string(ev.Status)
	}
}

// reportText summarises test reports: "tests: 120 passed, 2 failed,
// 3 skipped, coverage 81.2%".
func reportText(r *pipeline.ReportSummary) string {
	if r.Findings != nil {
		return findingsText(r.Findings)
	}
	s := fmt.Sprintf("tests: %d passed, %d failed, %d skipped", r.Passed, r.Failed, r.Skipped)
	if r.Coverage != nil {
		s += fmt.Sprintf(", coverage %.1f%%", *r.Coverage)
	}
	return s
}

// counts tallies a result's jobs for the closing summary.
type counts struct {
	ok, failed, allowed, skipped, cached, cancelled int
}

func countJobs(res *pipeline.Result, allowFailure func(string) bool) counts {
	var c counts
	for _, j := range res.Jobs {
		switch j.Status {
		case pipeline.StatusSuccess:
			c.ok++
		case pipeline.StatusFailed:
			if allowFailure(j.Name) {
				c.allowed++
			} else {
				c.failed++
			}
		case pipeline.StatusSkipped:
			c.skipped++
		case pipeline.StatusCached:
			c.cached++
		case pipeline.StatusCancelled, pipeline.StatusPending, pipeline.StatusRunning:
			c.cancelled++
		}
	}
	return c
}

func (c counts) String() string {
	parts := []string{fmt.Sprintf("%d ok", c.ok)}
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(c.cached, "cached")
	add(c.failed, "failed")
	add(c.allowed, "failed (allowed)")
	add(c.skipped, "skipped")
	add(c.cancelled, "cancelled")
	return strings.Join(parts, ", ")
}

// runSummary is the closing line: "run 12 failed in 3.2s: 4 ok, 1 failed".
func runSummary(runID string, res *pipeline.Result, allowFailure func(string) bool) string {
	return fmt.Sprintf("run %s %s in %s: %s", runID, res.Status, fmtDuration(res.Duration), countJobs(res, allowFailure))
}

// multiObserver hands each event to several observers in order.
type multiObserver []pipeline.Observer

func (m multiObserver) Observe(ev pipeline.Event) {
	for _, o := range m {
		o.Observe(ev)
	}
}

// findingsText summarises a scan job: "findings: 1 critical, 2 high"
// or "findings: none".
func findingsText(by map[string]int) string {
	var parts []string
	for _, sev := range config.ScanSeverities() {
		if n := by[sev]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, sev))
		}
	}
	if len(parts) == 0 {
		return "findings: none"
	}
	return "findings: " + strings.Join(parts, ", ")
}
