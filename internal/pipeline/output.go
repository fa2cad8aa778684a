package pipeline

import (
	"bytes"
	"strings"
)

// maxLine caps a log line; longer output is split into several events.
const maxLine = 64 << 10

// lineWriter turns a job's (already masked) output into log events, one
// per line, and keeps a copy for the cache. Callers serialise Write and
// Flush (the masking writer in front of it does).
type lineWriter struct {
	r       *run
	job     string
	attempt int
	keep    *bytes.Buffer
	partial []byte
}

func (r *run) logWriter(job string, attempt int, keep *bytes.Buffer) *lineWriter {
	return &lineWriter{r: r, job: job, attempt: attempt, keep: keep}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.keep != nil {
		w.keep.Write(p)
	}
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.line(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	for len(w.partial) > maxLine {
		w.line(w.partial[:maxLine])
		w.partial = w.partial[maxLine:]
	}
	if len(w.partial) == 0 {
		w.partial = nil
	}
	return len(p), nil
}

// Flush emits an unterminated last line.
func (w *lineWriter) Flush() {
	if len(w.partial) > 0 {
		w.line(w.partial)
		w.partial = nil
	}
}

func (w *lineWriter) line(b []byte) {
	w.r.emit(Event{Type: EventJobLog, Job: w.job, Attempt: w.attempt, Line: strings.TrimSuffix(string(b), "\r")})
}
