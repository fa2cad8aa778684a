package pipeline

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tugdev/tug/internal/config"
)

// fakeScanner finds what it is told to.
type fakeScanner struct {
	calls   atomic.Int32
	failing int
}

func (s *fakeScanner) Scan(ctx context.Context, dir string, spec *config.JobScan, out io.Writer) (*ScanSummary, error) {
	s.calls.Add(1)
	fmt.Fprintln(out, "1 findings: 1 high")
	return &ScanSummary{BySeverity: map[string]int{"high": 1}, Failing: s.failing, FailOn: "high"}, nil
}

func TestScanJobs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil, nil, jdef{"audit", &config.Job{Scan: &config.JobScan{}, Retry: 2}})
	plan := mustPlan(t, cfg)

	tr := newTestRun(t)
	res := tr.run(t, context.Background(), plan)
	if got := jobResult(t, res, "audit"); got.Status != StatusFailed || !strings.Contains(got.Reason, "scan jobs") {
		t.Errorf("scan without a scanner: %+v", got)
	}

	// Findings below the threshold: the job passes and its summary says
	// what was found.
	tr = newTestRun(t)
	s := &fakeScanner{}
	tr.opts.Scanner = s
	res = tr.run(t, context.Background(), plan)
	got := jobResult(t, res, "audit")
	if got.Status != StatusSuccess || got.Report == nil || !maps.Equal(got.Report.Findings, map[string]int{"high": 1}) {
		t.Errorf("passing scan: %+v", got)
	}
	if fin := tr.rec.find(EventJobFinished, "audit"); len(fin) != 1 || fin[0].Report == nil || fin[0].Report.Findings["high"] != 1 {
		t.Errorf("job_finished carries no findings: %+v", fin)
	}
	if logs := tr.rec.logs("audit"); len(logs) != 1 || logs[0] != "1 findings: 1 high" {
		t.Errorf("logs = %q", logs)
	}

	// A failing scan fails the job once: another attempt finds the same.
	tr = newTestRun(t)
	s = &fakeScanner{failing: 1}
	tr.opts.Scanner = s
	res = tr.run(t, context.Background(), plan)
	if got := jobResult(t, res, "audit"); got.Status != StatusFailed || got.Reason != "scan: 1 new findings at or above high" || s.calls.Load() != 1 {
		t.Errorf("failing scan: %+v after %d calls", got, s.calls.Load())
	}
}
