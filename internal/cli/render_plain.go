package cli

import (
	"fmt"
	"io"

	"github.com/tugdev/tug/internal/pipeline"
)

// plainRenderer prints a run as prefixed lines for logs and pipes:
// "[unit go=1.26] <log line>" and "[unit go=1.26] ok (1.2s)".
type plainRenderer struct {
	w            io.Writer
	mask         func(string) string
	allowFailure func(string) bool
}

var _ renderer = (*plainRenderer)(nil)

func newPlainRenderer(w io.Writer, mask func(string) string, allowFailure func(string) bool) *plainRenderer {
	return &plainRenderer{w: w, mask: mask, allowFailure: allowFailure}
}

func (p *plainRenderer) line(job, text string) {
	fmt.Fprint(p.w, p.mask("["+displayName(job)+"] "+text+"\n"))
}

// Observe prints log lines and status changes as they happen.
func (p *plainRenderer) Observe(ev pipeline.Event) {
	switch ev.Type {
	case pipeline.EventJobStarted:
		if ev.Attempt > 1 {
			p.line(ev.Job, fmt.Sprintf("retrying (attempt %d)", ev.Attempt))
		}
	case pipeline.EventJobLog:
		p.line(ev.Job, ev.Line)
	case pipeline.EventJobFinished:
		text := statusText(ev)
		if ev.Status == pipeline.StatusFailed && p.allowFailure(ev.Job) {
			text += " (allowed to fail)"
		}
		p.line(ev.Job, text)
		if ev.Report != nil {
			p.line(ev.Job, reportText(ev.Report))
			for _, f := range ev.Report.Failures {
				p.line(ev.Job, "  FAIL "+f)
			}
		}
	}
}

// Finish prints the closing summary line.
func (p *plainRenderer) Finish(res *pipeline.Result) {
	fmt.Fprintln(p.w, p.mask(runSummary(res.RunID, res, p.allowFailure)))
}
