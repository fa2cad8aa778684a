package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
)

// logFlushInterval bounds how long a log line waits before it is stored.
const logFlushInterval = 200 * time.Millisecond

// historyStore is the part of store.Store the recorder writes to.
type historyStore interface {
	PutJobs(ctx context.Context, runID int64, names []string) error
	StartAttempt(ctx context.Context, runID int64, job string, n int, at time.Time) error
	FinishAttempt(ctx context.Context, runID int64, job string, n int, status string, exitCode *int, at time.Time) error
	FinishJob(ctx context.Context, runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error
	AppendLogs(ctx context.Context, runID int64, lines []store.LogLine) error
	FinishRun(ctx context.Context, id int64, status string, at time.Time) error
}

var _ historyStore = (*store.Store)(nil)

// recorder writes a run's events into the history store. Observe only
// queues the event, so the engine never waits on the database; a worker
// goroutine applies them in order, batching log lines (stored when their
// job finishes and at least every logFlushInterval). Close waits until
// everything queued is stored.
type recorder struct {
	st     historyStore
	runID  int64
	logger *slog.Logger

	mu     sync.Mutex
	queue  []pipeline.Event
	wake   chan struct{}
	closed bool
	done   chan struct{}

	// Worker-owned.
	logs     []store.LogLine
	finished bool
	failures int
}

var _ pipeline.Observer = (*recorder)(nil)

func newRecorder(st historyStore, runID int64, logger *slog.Logger) *recorder {
	r := &recorder{st: st, runID: runID, logger: logger, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go r.work()
	return r
}

// Observe queues ev; it never blocks on the store.
func (r *recorder) Observe(ev pipeline.Event) {
	ev.Jobs = slices.Clone(ev.Jobs)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.queue = append(r.queue, ev)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Close stores everything queued. If the run never reported its end
// (the engine failed to start it), the run is finished as status.
func (r *recorder) Close(status pipeline.Status) {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	<-r.done
	if !r.finished {
		r.apply(pipeline.Event{Type: pipeline.EventRunFinished, Status: status, Time: time.Now()})
	}
}

func (r *recorder) work() {
	defer close(r.done)
	tick := time.NewTicker(logFlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.wake:
		case <-tick.C:
			r.flushLogs()
		}
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		closed := r.closed
		r.mu.Unlock()
		for _, ev := range batch {
			r.apply(ev)
		}
		if closed {
			r.mu.Lock()
			rest := len(r.queue)
			r.mu.Unlock()
			if rest == 0 {
				r.flushLogs()
				return
			}
		}
	}
}

// ctx is background on purpose: a cancelled run must still be recorded.
func (r *recorder) ctx() context.Context { return context.Background() }

func (r *recorder) check(what string, err error) {
	if err != nil {
		r.failures++
		if r.failures <= 3 {
			r.logger.Warn("cannot record run history", "run", r.runID, "step", what, "err", err)
		}
	}
}

func (r *recorder) apply(ev pipeline.Event) {
	ctx := r.ctx()
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	switch ev.Type {
	case pipeline.EventRunStarted:
		r.check("jobs", r.st.PutJobs(ctx, r.runID, ev.Jobs))
	case pipeline.EventJobStarted:
		if ev.Attempt > 1 {
			// The engine retries only after a failed attempt.
			r.check("finish attempt", r.st.FinishAttempt(ctx, r.runID, ev.Job, ev.Attempt-1, store.StatusFailed, nil, ev.Time))
		}
		r.check("start attempt", r.st.StartAttempt(ctx, r.runID, ev.Job, ev.Attempt, ev.Time))
	case pipeline.EventJobLog:
		r.logs = append(r.logs, store.LogLine{Job: ev.Job, Attempt: ev.Attempt, Time: ev.Time, Line: ev.Line})
	case pipeline.EventJobFinished:
		r.flushLogs()
		if ev.Attempt > 0 {
			r.check("finish attempt", r.st.FinishAttempt(ctx, r.runID, ev.Job, ev.Attempt, attemptStatus(ev.Status), ev.ExitCode, ev.Time))
		}
		r.check("finish job", r.st.FinishJob(ctx, r.runID, ev.Job, string(ev.Status), ev.Reason, ev.ExitCode, ev.Time, jobDetail(ev)))
	case pipeline.EventRunFinished:
		r.flushLogs()
		r.finished = true
		r.check("finish run", r.st.FinishRun(ctx, r.runID, string(ev.Status), ev.Time))
	}
}

// attemptStatus is how the last attempt ended given how its job ended.
func attemptStatus(s pipeline.Status) string {
	switch s {
	case pipeline.StatusSuccess, pipeline.StatusFailed, pipeline.StatusCancelled:
		return string(s)
	default:
		return store.StatusFailed
	}
}

func (r *recorder) flushLogs() {
	if len(r.logs) == 0 {
		return
	}
	r.check("logs", r.st.AppendLogs(r.ctx(), r.runID, r.logs))
	r.logs = r.logs[:0]
}

// jobDetail is the JSON kept with a finished job: its cache decision and
// test report summary, or nil when it has neither.
func jobDetail(ev pipeline.Event) json.RawMessage {
	if ev.Cache == nil && ev.Report == nil {
		return nil
	}
	b, err := json.Marshal(struct {
		Cache  *pipeline.CacheInfo     `json:"cache,omitempty"`
		Report *pipeline.ReportSummary `json:"report,omitempty"`
	}{ev.Cache, ev.Report})
	if err != nil {
		return nil
	}
	return b
}
