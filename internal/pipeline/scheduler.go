package pipeline

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// run is one execution of a plan: the ready queue and the job states.
// Only the scheduler goroutine (execute) touches states; job goroutines get
// what they need when they start and report back on a channel.
type run struct {
	e      *Engine
	plan   *Plan
	ro     RunOptions
	named  map[string]bool
	masker *secret.Masker

	states []*jobState
	byName map[string]*jobState

	obsMu sync.Mutex
	// scans holds each scan job's findings by severity (job name ->
	// map[string]int), for its report summary.
	scans sync.Map
}

type jobState struct {
	idx        int
	job        *Job
	pending    int // needs not finished yet
	dependents []*jobState
	done       bool
	res        JobResult
	exited     bool // res.ExitCode comes from an executed script
	// failedChain: the job failed (not allowed to) or was skipped because
	// a need failed; `when: on_failure` jobs look for it.
	failedChain bool
}

// outcome is a finished job goroutine's report.
type outcome struct {
	st     *jobState
	res    JobResult
	exited bool
}

func newRun(e *Engine, plan *Plan, ro RunOptions, jobs []*Job, named map[string]bool) *run {
	r := &run{e: e, plan: plan, ro: ro, named: named, byName: map[string]*jobState{}}
	values := make([]secret.Value, 0, len(ro.Secrets))
	for name, v := range ro.Secrets {
		if len(v.Reveal()) < secret.MinLen {
			e.opts.Logger.Warn("secret too short to mask in output", "secret", name, "min_len", secret.MinLen)
		}
		values = append(values, v)
	}
	r.masker, _ = secret.NewMasker(values...)
	for i, j := range jobs {
		st := &jobState{idx: i, job: j, res: JobResult{Name: j.Name, Status: StatusPending}}
		r.states = append(r.states, st)
		r.byName[j.Name] = st
	}
	for _, st := range r.states {
		for _, n := range st.job.Needs {
			if need := r.byName[n]; need != nil {
				st.pending++
				need.dependents = append(need.dependents, st)
			}
		}
	}
	return r
}

// emit stamps ev and hands it to the observer, one event at a time.
func (r *run) emit(ev Event) {
	r.obsMu.Lock()
	defer r.obsMu.Unlock()
	ev.Time = r.e.opts.Now()
	ev.RunID = r.ro.RunID
	ev.Pipeline = r.plan.Pipeline
	if r.e.opts.Observer != nil {
		r.e.opts.Observer.Observe(ev)
	}
}

// execute runs the ready queue: a job starts as soon as its own needs
// ended and a slot is free, whatever else is still running.
func (r *run) execute(ctx context.Context) *Result {
	start := r.e.opts.Now()
	names := make([]string, len(r.states))
	needs := make(map[string][]string, len(r.states))
	for i, st := range r.states {
		names[i] = st.job.Name
		needs[st.job.Name] = append([]string{}, st.job.Needs...)
	}
	r.emit(Event{Type: EventRunStarted, Jobs: names, Needs: needs})

	var ready []*jobState
	for _, st := range r.states {
		if st.pending == 0 {
			ready = append(ready, st)
		}
	}
	remaining := len(r.states)
	running := 0
	done := make(chan outcome)
	ctxDone := ctx.Done()

	finish := func(st *jobState, res JobResult, exited bool) {
		st.done = true
		st.res = res
		st.exited = exited
		st.failedChain = st.failedChain || (res.Status == StatusFailed && !st.job.Config.AllowFailure)
		remaining--
		r.emitFinished(st)
		for _, d := range st.dependents {
			if d.pending--; d.pending == 0 {
				ready = append(ready, d)
			}
		}
		slices.SortFunc(ready, func(a, b *jobState) int { return a.idx - b.idx })
	}

	for remaining > 0 {
		// Settle every ready job that needs no slot (skipped, cancelled)
		// and start the others while slots are free.
		for i := 0; i < len(ready); {
			st := ready[i]
			if ctx.Err() != nil {
				ready = slices.Delete(ready, i, i+1)
				finish(st, JobResult{Name: st.job.Name, Status: StatusCancelled, Reason: "run cancelled before the job started"}, false)
				i = 0
				continue
			}
			if status, reason, chain, ok := r.decide(st); !ok {
				ready = slices.Delete(ready, i, i+1)
				st.failedChain = chain
				finish(st, JobResult{Name: st.job.Name, Status: status, Reason: reason}, false)
				i = 0
				continue
			}
			if running >= r.e.opts.Parallel {
				i++
				continue
			}
			ready = slices.Delete(ready, i, i+1)
			running++
			st.res.Status = StatusRunning
			in := r.jobInput(st)
			go func() {
				res, exited := r.runJob(ctx, st.job, in)
				done <- outcome{st: st, res: res, exited: exited}
			}()
		}
		if remaining == 0 {
			break
		}
		select {
		case o := <-done:
			running--
			finish(o.st, o.res, o.exited)
		case <-ctxDone:
			ctxDone = nil // running jobs see ctx too; wait for them
		}
	}

	res := &Result{RunID: r.ro.RunID, Status: StatusSuccess, Duration: r.e.opts.Now().Sub(start)}
	for _, st := range r.states {
		res.Jobs = append(res.Jobs, st.res)
		switch {
		case st.res.Status == StatusCancelled:
			res.Status = StatusCancelled
		case st.res.Status == StatusFailed && !st.job.Config.AllowFailure && res.Status != StatusCancelled:
			res.Status = StatusFailed
		}
	}
	r.emit(Event{Type: EventRunFinished, Status: res.Status, DurationMS: ms(res.Duration)})
	return res
}

func (r *run) emitFinished(st *jobState) {
	ev := Event{
		Type:       EventJobFinished,
		Job:        st.job.Name,
		Attempt:    st.res.Attempts,
		Status:     st.res.Status,
		Reason:     st.res.Reason,
		DurationMS: ms(st.res.Duration),
		Cache:      st.res.Cache,
		Report:     st.res.Report,
	}
	if st.exited {
		code := st.res.ExitCode
		ev.ExitCode = &code
	}
	r.emit(ev)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
