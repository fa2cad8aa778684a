package cli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tugdev/tug/internal/pipeline"
)

// ttyFrameInterval is how often the live view is redrawn.
const ttyFrameInterval = 100 * time.Millisecond

// tailLines is how many of a failed job's last log lines the summary shows.
const tailLines = 10

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// ttyRenderer draws a live view on a terminal: one line per job with a
// status glyph, its name, elapsed time and a note, redrawn about ten
// times a second; then a summary with the failed jobs' last lines.
type ttyRenderer struct {
	w            io.Writer
	mask         func(string) string
	allowFailure func(string) bool
	size         func() (width, height int)
	now          func() time.Time
	color        bool

	mu     sync.Mutex
	jobs   []*ttyJob
	byName map[string]*ttyJob
	drawn  int // lines of the last frame, to move back over
	frame  int
	stop   chan struct{}
	done   chan struct{}
}

type ttyJob struct {
	name     string
	status   pipeline.Status
	started  time.Time
	duration time.Duration
	attempt  int
	ev       pipeline.Event // the job_finished event
	tail     []string       // ring of the last tailLines log lines
	tailNext int
}

var _ renderer = (*ttyRenderer)(nil)

func newTTYRenderer(w io.Writer, mask func(string) string, allowFailure func(string) bool, size func() (int, int), now func() time.Time, color bool) *ttyRenderer {
	t := &ttyRenderer{
		w: w, mask: mask, allowFailure: allowFailure, size: size, now: now, color: color,
		byName: map[string]*ttyJob{},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go t.loop()
	return t
}

func (t *ttyRenderer) loop() {
	defer close(t.done)
	tick := time.NewTicker(ttyFrameInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
			t.mu.Lock()
			t.frame++
			t.draw()
			t.mu.Unlock()
		}
	}
}

// Observe updates the view's state; drawing happens on the ticker.
func (t *ttyRenderer) Observe(ev pipeline.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Type {
	case pipeline.EventRunStarted:
		for _, name := range ev.Jobs {
			j := &ttyJob{name: name, status: pipeline.StatusPending}
			t.jobs = append(t.jobs, j)
			t.byName[name] = j
		}
	case pipeline.EventJobStarted:
		if j := t.byName[ev.Job]; j != nil {
			j.status = pipeline.StatusRunning
			j.attempt = ev.Attempt
			if j.started.IsZero() {
				j.started = ev.Time
			}
		}
	case pipeline.EventJobLog:
		if j := t.byName[ev.Job]; j != nil {
			if len(j.tail) < tailLines {
				j.tail = append(j.tail, ev.Line)
			} else {
				j.tail[j.tailNext] = ev.Line
				j.tailNext = (j.tailNext + 1) % tailLines
			}
		}
	case pipeline.EventJobFinished:
		if j := t.byName[ev.Job]; j != nil {
			j.status = ev.Status
			j.duration = msDuration(ev.DurationMS)
			ev.Jobs = nil
			j.ev = ev
		}
	}
}

// lastLines returns the job's kept log lines, oldest first.
func (j *ttyJob) lastLines() []string {
	if len(j.tail) < tailLines {
		return j.tail
	}
	return append(append([]string{}, j.tail[j.tailNext:]...), j.tail[:j.tailNext]...)
}

func (t *ttyRenderer) paint(code, s string) string {
	if !t.color || code == "" {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// row renders one job's line.
func (t *ttyRenderer) row(j *ttyJob, nameWidth int) string {
	var glyph, color, note string
	var elapsed time.Duration
	switch j.status {
	case pipeline.StatusPending:
		glyph, color = "·", "2"
	case pipeline.StatusRunning:
		glyph, color = spinnerFrames[t.frame%len(spinnerFrames)], "36"
		elapsed = t.now().Sub(j.started)
		if j.attempt > 1 {
			note = fmt.Sprintf("attempt %d", j.attempt)
		}
	case pipeline.StatusSuccess:
		glyph, color = "✓", "32"
		elapsed = j.duration
	case pipeline.StatusCached:
		glyph, color, note = "✓", "34", "cached"
	case pipeline.StatusFailed:
		glyph, color = "✗", "31"
		elapsed = j.duration
		note = strings.TrimPrefix(statusText(j.ev), "failed ")
		if t.allowFailure(j.name) {
			glyph, color = "!", "33"
			note += " (allowed to fail)"
		}
	case pipeline.StatusSkipped:
		glyph, color, note = "-", "2", "skipped"
		if j.ev.Reason != "" {
			note += " (" + j.ev.Reason + ")"
		}
	default:
		glyph, color, note = "⊘", "33", string(j.status)
		if j.ev.Reason != "" {
			note += " (" + j.ev.Reason + ")"
		}
	}
	el := ""
	if elapsed > 0 {
		el = fmtDuration(elapsed)
	}
	name := displayName(j.name)
	return fmt.Sprintf("%s %-*s %6s  %s", t.paint(color, glyph), nameWidth, name, el, note)
}

// rows picks the lines of a frame: every job when they fit, otherwise
// the running and failed ones and a tally of the rest.
func (t *ttyRenderer) rows() []string {
	width, height := t.size()
	nameWidth := 0
	for _, j := range t.jobs {
		nameWidth = max(nameWidth, utf8.RuneCountInString(displayName(j.name)))
	}
	nameWidth = min(nameWidth, max(width/2, 10))
	show := t.jobs
	var tally string
	if maxRows := max(height-2, 3); len(t.jobs) > maxRows {
		show = nil
		var pending, done int
		for _, j := range t.jobs {
			switch {
			case (j.status == pipeline.StatusRunning || j.status == pipeline.StatusFailed) && len(show) < maxRows-1:
				show = append(show, j)
			case j.status == pipeline.StatusPending:
				pending++
			default:
				done++
			}
		}
		tally = fmt.Sprintf("  … %d done, %d pending, %d jobs in all", done, pending, len(t.jobs))
	}
	out := make([]string, 0, len(show)+1)
	for _, j := range show {
		out = append(out, truncate(t.row(j, nameWidth), width))
	}
	if tally != "" {
		out = append(out, truncate(tally, width))
	}
	return out
}

// draw repaints the frame over the previous one. Callers hold mu.
func (t *ttyRenderer) draw() {
	rows := t.rows()
	var b strings.Builder
	if t.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", t.drawn)
	}
	for _, r := range rows {
		b.WriteString("\r\x1b[2K")
		b.WriteString(r)
		b.WriteString("\n")
	}
	b.WriteString("\x1b[J")
	t.drawn = len(rows)
	io.WriteString(t.w, t.mask(b.String()))
}

// Finish draws the final frame and the summary.
func (t *ttyRenderer) Finish(res *pipeline.Result) {
	close(t.stop)
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draw()
	var b strings.Builder
	b.WriteString("\n")
	for _, j := range t.jobs {
		if j.status != pipeline.StatusFailed {
			continue
		}
		fmt.Fprintf(&b, "%s %s\n", t.paint("31;1", "──"), t.paint("1", displayName(j.name)+" "+statusText(j.ev)))
		for _, l := range j.lastLines() {
			b.WriteString("   " + l + "\n")
		}
	}
	for _, j := range t.jobs {
		if r := j.ev.Report; r != nil {
			fmt.Fprintf(&b, "%s: %s\n", displayName(j.name), reportText(r))
			for _, f := range r.Failures {
				b.WriteString("   FAIL " + f + "\n")
			}
		}
	}
	color := "32;1"
	if res.Status != pipeline.StatusSuccess {
		color = "31;1"
	}
	b.WriteString(t.paint(color, runSummary(res.RunID, res, t.allowFailure)) + "\n")
	io.WriteString(t.w, t.mask(b.String()))
}

// truncate cuts s to width visible runes, ignoring ANSI colour codes.
func truncate(s string, width int) string {
	if width <= 0 {
		return s
	}
	visible := 0
	inEsc := false
	for i, r := range s {
		switch {
		case inEsc:
			if r == 'm' {
				inEsc = false
			}
		case r == '\x1b':
			inEsc = true
		default:
			visible++
			if visible > width {
				return s[:i] + "\x1b[0m"
			}
		}
	}
	return s
}
