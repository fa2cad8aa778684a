package runner

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

// batchGap is the least time between two history transactions while the
// run goes on: events arriving meanwhile share the next one. Close does
// not wait for it.
const batchGap = 5 * time.Millisecond

// historyStore is the part of store.Store the recorder writes to. Batch
// applies several writes in one transaction; the single-write methods are
// the fallback when a batch fails, so one bad record loses only itself.
type historyStore interface {
	Batch(ctx context.Context, fn func(*store.Batch) error) error
	PutJobs(ctx context.Context, runID int64, names []string) error
	StartAttempt(ctx context.Context, runID int64, job string, n int, at time.Time) error
	FinishAttempt(ctx context.Context, runID int64, job string, n int, status string, exitCode *int, at time.Time) error
	FinishJob(ctx context.Context, runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error
	AppendLogs(ctx context.Context, runID int64, lines []store.LogLine) error
	FinishRun(ctx context.Context, id int64, status string, at time.Time) error
	SetJobStatus(ctx context.Context, runID int64, job, status, reason string) error
}

var _ historyStore = (*store.Store)(nil)

// recorder writes a run's events into the history store. Observe only
// queues the event, so the engine never waits on the database; a worker
// goroutine applies them in order, everything queued since its last pass
// in one transaction, and batches log lines (stored when their job
// finishes and at least every logFlushInterval). Close waits until
// everything queued is stored.
type recorder struct {
	st     historyStore
	runID  int64
	logger *slog.Logger

	mu      sync.Mutex
	queue   []pipeline.Event
	wake    chan struct{}
	closed  bool
	closing chan struct{} // closed by Close
	done    chan struct{}

	// changed, if set, is called after each write (a follower wakes).
	changed func()

	// Worker-owned.
	logs     []store.LogLine
	finished bool
	failures int
}

var _ pipeline.Observer = (*recorder)(nil)

func newRecorder(st historyStore, runID int64, logger *slog.Logger) *recorder {
	r := &recorder{st: st, runID: runID, logger: logger, wake: make(chan struct{}, 1),
		closing: make(chan struct{}), done: make(chan struct{})}
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
	again := r.closed
	r.closed = true
	r.mu.Unlock()
	if !again {
		close(r.closing)
	}
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
		flush := false
		select {
		case <-r.wake:
		case <-tick.C:
			flush = true
		}
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		closed := r.closed
		r.mu.Unlock()
		var ops []historyOp
		for _, ev := range batch {
			ops = r.plan(ops, ev)
		}
		if flush || closed {
			ops = r.planLogs(ops)
		}
		r.write(ops)
		if !closed && len(ops) > 0 {
			select {
			case <-r.closing:
			case <-time.After(batchGap):
			}
		}
		if closed {
			r.mu.Lock()
			rest := len(r.queue)
			r.mu.Unlock()
			if rest == 0 {
				r.write(r.planLogs(nil))
				return
			}
		}
	}
}

// historyOp is one write of the history: applied in a batch, or alone
// (ctx given) when the batch failed.
type historyOp struct {
	what string
	do   func(b historyWriter) error
}

// historyWriter is what ops write to: a *store.Batch, or the store one
// transaction per call.
type historyWriter interface {
	PutJobs(runID int64, names []string) error
	StartAttempt(runID int64, job string, n int, at time.Time) error
	FinishAttempt(runID int64, job string, n int, status string, exitCode *int, at time.Time) error
	FinishJob(runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error
	AppendLogs(runID int64, lines []store.LogLine) error
	FinishRun(id int64, status string, finished time.Time) error
	SetJobStatus(runID int64, job, status, reason string) error
}

var _ historyWriter = (*store.Batch)(nil)

// singleWriter writes each call in its own transaction.
type singleWriter struct {
	st  historyStore
	ctx context.Context
}

func (w singleWriter) PutJobs(runID int64, names []string) error {
	return w.st.PutJobs(w.ctx, runID, names)
}

func (w singleWriter) StartAttempt(runID int64, job string, n int, at time.Time) error {
	return w.st.StartAttempt(w.ctx, runID, job, n, at)
}

func (w singleWriter) FinishAttempt(runID int64, job string, n int, status string, exitCode *int, at time.Time) error {
	return w.st.FinishAttempt(w.ctx, runID, job, n, status, exitCode, at)
}

func (w singleWriter) FinishJob(runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error {
	return w.st.FinishJob(w.ctx, runID, job, status, reason, exitCode, at, detail)
}

func (w singleWriter) AppendLogs(runID int64, lines []store.LogLine) error {
	return w.st.AppendLogs(w.ctx, runID, lines)
}

func (w singleWriter) FinishRun(id int64, status string, finished time.Time) error {
	return w.st.FinishRun(w.ctx, id, status, finished)
}

func (w singleWriter) SetJobStatus(runID int64, job, status, reason string) error {
	return w.st.SetJobStatus(w.ctx, runID, job, status, reason)
}

// write applies ops in one transaction; if that fails, one by one, so
// only the bad ones are lost (and warned about).
func (r *recorder) write(ops []historyOp) {
	if len(ops) == 0 {
		return
	}
	err := r.st.Batch(r.ctx(), func(b *store.Batch) error {
		for _, op := range ops {
			if err := op.do(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w := singleWriter{st: r.st, ctx: r.ctx()}
		for _, op := range ops {
			r.check(op.what, op.do(w))
		}
	}
	if r.changed != nil {
		r.changed()
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

// apply stores one event now (used by Close for a run that never ended).
func (r *recorder) apply(ev pipeline.Event) {
	r.write(r.plan(nil, ev))
}

// plan appends the writes ev needs to ops. Log lines are held back until
// their job finishes, the run ends or the flush interval passes.
func (r *recorder) plan(ops []historyOp, ev pipeline.Event) []historyOp {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	id := r.runID
	switch ev.Type {
	case pipeline.EventRunStarted:
		ops = append(ops, historyOp{"jobs", func(w historyWriter) error { return w.PutJobs(id, ev.Jobs) }})
	case pipeline.EventJobStarted:
		if ev.Attempt > 1 {
			// The engine retries only after a failed attempt.
			ops = append(ops, historyOp{"finish attempt", func(w historyWriter) error {
				return w.FinishAttempt(id, ev.Job, ev.Attempt-1, store.StatusFailed, nil, ev.Time)
			}})
		}
		ops = append(ops, historyOp{"start attempt", func(w historyWriter) error {
			return w.StartAttempt(id, ev.Job, ev.Attempt, ev.Time)
		}})
	case pipeline.EventJobLog:
		r.logs = append(r.logs, store.LogLine{Job: ev.Job, Attempt: ev.Attempt, Time: ev.Time, Line: ev.Line})
	case pipeline.EventJobFinished:
		ops = r.planLogs(ops)
		if ev.Attempt > 0 {
			ops = append(ops, historyOp{"finish attempt", func(w historyWriter) error {
				return w.FinishAttempt(id, ev.Job, ev.Attempt, attemptStatus(ev.Status), ev.ExitCode, ev.Time)
			}})
		}
		detail := jobDetail(ev)
		ops = append(ops, historyOp{"finish job", func(w historyWriter) error {
			return w.FinishJob(id, ev.Job, string(ev.Status), ev.Reason, ev.ExitCode, ev.Time, detail)
		}})
	case pipeline.EventJobWaiting, pipeline.EventJobResumed:
		ops = r.planLogs(ops)
		status, reason := store.StatusWaiting, ev.Reason
		if ev.Type == pipeline.EventJobResumed {
			status, reason = store.StatusRunning, ""
		}
		ops = append(ops, historyOp{"job status", func(w historyWriter) error { return w.SetJobStatus(id, ev.Job, status, reason) }})
	case pipeline.EventRunFinished:
		ops = r.planLogs(ops)
		r.finished = true
		ops = append(ops, historyOp{"finish run", func(w historyWriter) error {
			return w.FinishRun(id, string(ev.Status), ev.Time)
		}})
	}
	return ops
}

// planLogs appends a write of the held-back log lines.
func (r *recorder) planLogs(ops []historyOp) []historyOp {
	if len(r.logs) == 0 {
		return ops
	}
	lines := r.logs
	r.logs = nil
	id := r.runID
	return append(ops, historyOp{"logs", func(w historyWriter) error { return w.AppendLogs(id, lines) }})
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

// detail is the JSON kept with a finished job (jobDetail), read back
// into JobInfo.
type detail struct {
	Cache  *pipeline.CacheInfo     `json:"cache,omitempty"`
	Report *pipeline.ReportSummary `json:"report,omitempty"`
}

// jobDetail is the JSON kept with a finished job: its cache decision and
// test report summary, or nil when it has neither.
func jobDetail(ev pipeline.Event) json.RawMessage {
	if ev.Cache == nil && ev.Report == nil {
		return nil
	}
	b, err := json.Marshal(detail{ev.Cache, ev.Report})
	if err != nil {
		return nil
	}
	return b
}
