package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/trigger"
)

// DefaultMaxParallelRuns is how many runs the server executes at once
// when server.max_parallel_runs is not set.
const DefaultMaxParallelRuns = 2

// configJob is the job a run whose tug.yaml did not load shows, with the
// file's errors as its log.
const configJob = "tug.yaml"

// Sentinel errors of the queue; the API maps them.
var (
	// ErrNoRun: no run with that ID.
	ErrNoRun = errors.New("no such run")
	// ErrFinished: the run already ended (cancel).
	ErrFinished = errors.New("run already finished")
	// ErrBadRequest: a start request or push the server cannot act on.
	ErrBadRequest = errors.New("bad run request")
	// ErrUnknownRepository: a push or webhook for a repository the server
	// does not build.
	ErrUnknownRepository = errors.New("unknown repository")
)

// StatusReporter tells the forge how a run of a commit goes (commit
// statuses). Report is called with pending when the run starts and with
// its final status when it ends, from the run's goroutine; it must not
// block long (it bounds its own requests) and logs its own failures.
// Calls for different runs may be concurrent.
type StatusReporter interface {
	Report(ctx context.Context, run RunInfo)
}

// QueueOptions wire a Queue. Runner, Store, StateDir and ConfigPath are
// required.
type QueueOptions struct {
	Runner   *Runner
	Store    *store.Store
	StateDir string
	// ConfigPath is the server's tug.yaml; its repository is where runs
	// come from unless a push names another, and a run's tug.yaml is the
	// file at the same place in its commit.
	ConfigPath string
	// Config is the server's config in force (max_parallel_runs, and the
	// triggers of a pushed commit whose tug.yaml does not load).
	Config func() *config.Config
	// LookupEnv expands ${VAR} in a run's tug.yaml.
	LookupEnv func(string) (string, bool)
	Statuses  StatusReporter
	Logger    *slog.Logger
}

// Queue is the server's run queue: runs wait in the store, start up to
// server.max_parallel_runs at once (one per concurrency group), each in
// its own worktree of its commit, and survive a restart while queued.
// Its methods are safe for concurrent use; Run drives it.
type Queue struct {
	o       QueueOptions
	log     *slog.Logger
	mirrors *mirrors
	repo    string // the git directory of the server's repository
	cfgRel  string // tug.yaml relative to the repository top

	mu      sync.Mutex
	running map[int64]*active
	wake    chan struct{}
	// changed is closed, and replaced, whenever a run records something,
	// so followers of its log wake.
	changed chan struct{}
	life    context.Context
	wg      sync.WaitGroup
}

type active struct {
	cancel context.CancelCauseFunc
	group  string
}

// NewQueue prepares the queue of the repository holding o.ConfigPath.
func NewQueue(ctx context.Context, o QueueOptions) (*Queue, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{o: o, log: o.Logger, mirrors: &mirrors{dir: filepath.Join(o.StateDir, "mirrors")},
		running: map[int64]*active{}, wake: make(chan struct{}, 1), changed: make(chan struct{})}
	dir := filepath.Dir(o.ConfigPath)
	gitDir, err := trigger.GitDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	q.repo = gitDir
	top, err := git(ctx, "", "-C", dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, err
	}
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	if q.cfgRel, err = filepath.Rel(real(top), real(o.ConfigPath)); err != nil || strings.HasPrefix(q.cfgRel, "..") {
		q.cfgRel = filepath.Base(o.ConfigPath)
	}
	return q, nil
}

// GitDir is the git directory of the server's repository.
func (q *Queue) GitDir() string { return q.repo }

// worktrees is where runs' checkouts live.
func (q *Queue) worktrees() string { return filepath.Join(q.o.StateDir, "worktrees") }

// Run starts queued runs until ctx ends, then cancels the running ones
// (they end interrupted; a deploy waiting for approval keeps waiting for
// the next server) and waits for them. Worktrees a crashed server left
// are removed first.
func (q *Queue) Run(ctx context.Context) error {
	life, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	q.mu.Lock()
	q.life = life
	q.mu.Unlock()
	q.cleanLeftovers(ctx)
	defer func() {
		stop(deploy.ErrServerStopping)
		q.wg.Wait()
	}()
	for {
		q.dispatch()
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// cleanLeftovers removes the worktrees of runs that are not running (a
// server killed mid-run leaves them).
func (q *Queue) cleanLeftovers(ctx context.Context) {
	entries, err := os.ReadDir(q.worktrees())
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(q.worktrees(), e.Name())
		if n := killIn(dir); n > 0 {
			q.log.Info("runs: stopped the jobs an interrupted run left running", "dir", e.Name(), "processes", n)
		}
		q.removeContainers(ctx, dir)
		if err := os.RemoveAll(dir); err != nil {
			q.log.Warn("runs: removing a worktree left behind", "dir", e.Name(), "err", err)
		} else {
			q.log.Info("runs: removed the worktree of an interrupted run", "dir", e.Name())
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(q.mirrors.dir, "*.git"))
	for _, m := range mirrors {
		_, _ = git(ctx, m, "worktree", "prune")
	}
}

// removeContainers removes the job containers an interrupted run left in
// dir, when a Docker engine answers.
func (q *Queue) removeContainers(ctx context.Context, dir string) {
	d, err := pipeline.NewDocker(pipeline.DockerOptions{Logger: q.log})
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if n, err := d.RemoveLeftovers(ctx, dir); err == nil && n > 0 {
		q.log.Info("runs: removed the containers an interrupted run left", "dir", filepath.Base(dir), "containers", n)
	}
}

func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// notify wakes the followers of run logs.
func (q *Queue) notify() {
	q.mu.Lock()
	close(q.changed)
	q.changed = make(chan struct{})
	q.mu.Unlock()
}

// changes is the channel the next notify closes.
func (q *Queue) changes() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

func (q *Queue) maxParallel() int {
	if q.o.Config != nil {
		if c := q.o.Config(); c != nil && c.Server != nil && c.Server.MaxParallelRuns > 0 {
			return c.Server.MaxParallelRuns
		}
	}
	return DefaultMaxParallelRuns
}

// dispatch starts queued runs while slots are free, oldest first, one per
// concurrency group.
func (q *Queue) dispatch() {
	q.mu.Lock()
	life := q.life
	q.mu.Unlock()
	if life == nil || life.Err() != nil {
		return
	}
	queued, err := q.o.Store.QueuedRuns(life)
	if err != nil {
		q.log.Error("runs: reading the queue", "err", err)
		return
	}
	limit := q.maxParallel()
	for _, r := range queued {
		q.mu.Lock()
		full := len(q.running) >= limit
		busy := false
		for _, a := range q.running {
			busy = busy || (r.Concurrency != "" && a.group == r.Concurrency)
		}
		if full {
			q.mu.Unlock()
			return
		}
		if busy {
			q.mu.Unlock()
			continue
		}
		dir := filepath.Join(q.worktrees(), "run-"+strconv.FormatInt(r.ID, 10))
		if err := q.o.Store.StartQueued(life, r.ID, dir); err != nil {
			q.mu.Unlock()
			if !errors.Is(err, store.ErrNotQueued) {
				q.log.Error("runs: starting a run", "run", r.ID, "err", err)
			}
			continue
		}
		ctx, cancel := context.WithCancelCause(life)
		q.running[r.ID] = &active{cancel: cancel, group: r.Concurrency}
		q.mu.Unlock()
		r.Dir, r.Status = dir, store.StatusRunning
		q.wg.Add(1)
		go func(r store.Run) {
			defer q.wg.Done()
			q.execute(ctx, r)
			cancel(nil)
			q.mu.Lock()
			delete(q.running, r.ID)
			q.mu.Unlock()
			q.notify()
			q.poke()
		}(r)
	}
}

// execute runs one started run in its worktree and records how it ended.
func (q *Queue) execute(ctx context.Context, r store.Run) {
	var spec Spec
	if err := json.Unmarshal([]byte(r.Request), &spec); err != nil {
		q.failRun(ctx, r.ID, fmt.Sprintf("the queued request does not read: %v", err), nil)
		return
	}
	log := q.log.With("run", r.ID, "pipeline", spec.Pipeline, "commit", ShortID(spec.Commit))
	source := spec.Source
	if source == "" {
		source = q.repo
	}
	q.report(ctx, r, store.StatusPending)
	final := func() {
		if got, _, err := q.o.Store.GetRun(context.WithoutCancel(ctx), r.ID); err == nil {
			q.report(context.WithoutCancel(ctx), *got, got.Status)
		}
	}
	defer final()
	unlock := q.mirrors.lock(source) // a fetch into the mirror checks its worktrees
	err := addWorktree(ctx, source, r.Dir, spec.Commit)
	unlock()
	if err != nil && ctx.Err() != nil {
		q.endStopped(ctx, r.ID)
		return
	}
	if err != nil {
		q.failRun(ctx, r.ID, "checkout of "+ShortID(spec.Commit)+" failed", []string{err.Error()})
		return
	}
	defer func() {
		defer q.mirrors.lock(source)()
		if err := removeWorktree(ctx, source, r.Dir); err != nil {
			log.Warn("runs: removing the run's worktree", "dir", r.Dir, "err", err)
		}
	}()
	cfgPath := filepath.Join(r.Dir, q.cfgRel)
	data, err := os.ReadFile(cfgPath)
	var cfg *config.Config
	if err == nil {
		cfg, err = config.Parse(q.cfgRel, data, config.LoadOptions{LookupEnv: q.o.LookupEnv})
	}
	if err != nil {
		q.failRun(ctx, r.ID, "tug.yaml at "+ShortID(spec.Commit)+" is invalid; the server keeps its config", errorLines(err))
		return
	}
	prep, err := q.o.Runner.Prepare(ctx, cfg, filepath.Dir(cfgPath), spec)
	if err != nil && ctx.Err() != nil {
		q.endStopped(ctx, r.ID)
		return
	}
	if err != nil {
		q.failRun(ctx, r.ID, "the run cannot start", errorLines(err))
		return
	}
	log.Info("run started", "dir", r.Dir, "resumed", spec.Resumed)
	waits := &waitingJobs{ctx: ctx, jobs: map[string]bool{}}
	res, err := q.o.Runner.execute(ctx, prep, r.ID, waits, q.notify)
	switch {
	case err != nil:
		log.Warn("run failed to start", "err", err)
	case errors.Is(context.Cause(ctx), deploy.ErrServerStopping) && len(waits.list()) > 0:
		// A person's approval outlives the server: the next one starts
		// the run again and its deploys find the releases they made.
		spec.Resumed = true
		req, _ := json.Marshal(spec)
		reason := fmt.Sprintf("the server stopped while %s waited for approval; the next server goes on with it", strings.Join(waits.list(), ", "))
		if err := q.o.Store.RequeueRun(context.WithoutCancel(ctx), r.ID, string(req), reason); err != nil {
			log.Error("runs: queueing a run waiting for approval again", "err", err)
			_ = q.o.Store.FinishRun(context.WithoutCancel(ctx), r.ID, store.StatusInterrupted, time.Now())
			return
		}
		log.Info("run waits for approval: the next server goes on with it", "jobs", waits.list())
	case errors.Is(context.Cause(ctx), deploy.ErrServerStopping):
		// Cut off by the server stopping: interrupted, as after a crash.
		_ = q.o.Store.FinishRun(context.WithoutCancel(ctx), r.ID, store.StatusInterrupted, time.Now())
		log.Info("run interrupted: the server is stopping")
	default:
		log.Info("run finished", "status", res.Status)
	}
}

// waitingJobs follows which jobs of a run wait for a person. A job that
// stops waiting because the server stops still waits (for the next one).
type waitingJobs struct {
	ctx  context.Context // the run's
	mu   sync.Mutex
	jobs map[string]bool
}

func (w *waitingJobs) Observe(ev pipeline.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev.Type {
	case pipeline.EventJobWaiting:
		w.jobs[ev.Job] = true
	case pipeline.EventJobResumed:
		if !errors.Is(context.Cause(w.ctx), deploy.ErrServerStopping) {
			delete(w.jobs, ev.Job)
		}
	}
}

func (w *waitingJobs) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.jobs))
}

// endStopped records a run stopped before its pipeline started:
// cancelled, or interrupted when the server is stopping.
func (q *Queue) endStopped(ctx context.Context, id int64) {
	status := store.StatusCancelled
	if errors.Is(context.Cause(ctx), deploy.ErrServerStopping) {
		status = store.StatusInterrupted
	}
	if err := q.o.Store.FinishRun(context.WithoutCancel(ctx), id, status, time.Now()); err != nil {
		q.log.Error("runs: recording a stopped run", "run", id, "err", err)
	}
	q.notify()
}

// report posts a run's state to the forge, if commit statuses are on.
func (q *Queue) report(ctx context.Context, r store.Run, status string) {
	if q.o.Statuses == nil || r.Commit == "" {
		return
	}
	info := Info(r, nil)
	info.Status = status
	q.o.Statuses.Report(ctx, info)
}

// failRun records a run that could not run its pipeline: one job named
// after tug.yaml, failed, with lines as its log.
func (q *Queue) failRun(ctx context.Context, id int64, reason string, lines []string) {
	ctx = context.WithoutCancel(ctx)
	now := time.Now()
	err := q.o.Store.Batch(ctx, func(b *store.Batch) error {
		if err := b.PutJobs(id, []string{configJob}); err != nil {
			return err
		}
		if err := b.StartAttempt(id, configJob, 1, now); err != nil {
			return err
		}
		var logs []store.LogLine
		for _, l := range lines {
			logs = append(logs, store.LogLine{Job: configJob, Attempt: 1, Time: now, Line: l})
		}
		if err := b.AppendLogs(id, logs); err != nil {
			return err
		}
		if err := b.FinishAttempt(id, configJob, 1, store.StatusFailed, nil, now); err != nil {
			return err
		}
		if err := b.FinishJob(id, configJob, store.StatusFailed, reason, nil, now, nil); err != nil {
			return err
		}
		return b.FinishRun(id, store.StatusFailed, now)
	})
	if err == nil {
		err = q.o.Store.SetRunReason(ctx, id, reason)
	}
	if err != nil {
		q.log.Error("runs: recording a failed run", "run", id, "err", err)
	}
	q.notify()
}

// errorLines is an error as log lines: one per positioned config error.
func errorLines(err error) []string {
	var list config.Errors
	if errors.As(err, &list) {
		out := make([]string, len(list))
		for i, e := range list {
			out[i] = e.Error()
		}
		return out
	}
	return strings.Split(err.Error(), "\n")
}

// Cancel stops a run: a queued one never starts, a running one is
// cancelled (its jobs are stopped; the run ends cancelled).
func (q *Queue) Cancel(ctx context.Context, id int64, who string) (*RunInfo, error) {
	reason := "cancelled by " + who
	q.mu.Lock()
	a := q.running[id]
	q.mu.Unlock()
	if a != nil {
		if status, stopped := q.stop(ctx, id, a, reason); !stopped {
			return nil, fmt.Errorf("%w: run %d ended %s", ErrFinished, id, status)
		}
	} else if err := q.o.Store.CancelQueued(ctx, id, reason); err != nil {
		r, _, gerr := q.o.Store.GetRun(ctx, id)
		switch {
		case errors.Is(gerr, store.ErrNotFound):
			return nil, fmt.Errorf("%w: %d", ErrNoRun, id)
		case gerr != nil:
			return nil, gerr
		case r.Status == store.StatusRunning:
			return nil, fmt.Errorf("%w: run %d is a local `tug run` (process %d): stop it there", ErrBadRequest, id, r.PID)
		default:
			return nil, fmt.Errorf("%w: run %d ended %s", ErrFinished, id, r.Status)
		}
	}
	q.notify()
	q.poke()
	return q.Get(ctx, id)
}

// stop cancels a running run, recording why first (the run's end is
// recorded as soon as its jobs stop). A run whose end is recorded is
// still running while its worktree is removed: it has ended, keeps the
// reason it ended with, and stop answers its status and false.
func (q *Queue) stop(ctx context.Context, id int64, a *active, reason string) (string, bool) {
	ctx = context.WithoutCancel(ctx)
	if r, _, err := q.o.Store.GetRun(ctx, id); err == nil && store.Final(r.Status) {
		return r.Status, false
	}
	if err := q.o.Store.SetRunReason(ctx, id, reason); err != nil {
		q.log.Warn("runs: recording why a run stops", "run", id, "err", err)
	}
	a.cancel(errors.New(reason))
	return "", true
}

// Get is a run as the API shows it, with its jobs.
func (q *Queue) Get(ctx context.Context, id int64) (*RunInfo, error) {
	r, jobs, err := q.o.Store.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNoRun, id)
	}
	if err != nil {
		return nil, err
	}
	info := Info(*r, jobs)
	return &info, nil
}

// Enqueue records a run of spec as queued and wakes the dispatcher. In a
// concurrency group, the group's queued runs are superseded (cancelled)
// and, with cancel_in_progress, its running run is cancelled. cfg is the
// config of the run's commit (its concurrency group); nil for none.
func (q *Queue) Enqueue(ctx context.Context, spec Spec, cfg *config.Config) (*RunInfo, error) {
	info, _, err := q.enqueue(ctx, spec, cfg, false)
	return info, err
}

// enqueue is Enqueue; once, it queues nothing when a run of the same
// pipeline, event, ref and commit exists that was not cancelled or
// interrupted (a webhook delivered again, a push both watched and
// posted) and answers that run, with queued false.
func (q *Queue) enqueue(ctx context.Context, spec Spec, cfg *config.Config, once bool) (info *RunInfo, queued bool, err error) {
	group, cancelRunning := "", false
	if cfg != nil {
		if p := cfg.Pipelines[spec.Pipeline]; p != nil && p.Concurrency != nil {
			group = config.ExpandGroup(p.Concurrency.Group, map[string]string{
				"branch": spec.Branch, "tag": spec.Tag, "event": spec.Event, "commit": spec.Commit, "pipeline": spec.Pipeline,
			})
			cancelRunning = p.Concurrency.CancelInProgress
		}
	}
	req, err := json.Marshal(spec)
	if err != nil {
		return nil, false, err
	}
	rec := storeRun(spec, "")
	rec.Concurrency, rec.Request = group, string(req)
	q.mu.Lock()
	defer q.mu.Unlock()
	if once {
		prev, err := q.o.Store.RunOf(ctx, spec.Pipeline, spec.Event, spec.Branch, spec.Tag, spec.Commit)
		if err == nil {
			info := Info(*prev, nil)
			return &info, false, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	id, err := q.o.Store.EnqueueRun(ctx, rec)
	if err != nil {
		return nil, false, err
	}
	if group != "" {
		queued, err := q.o.Store.QueuedRuns(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, r := range queued {
			if r.ID != id && r.Concurrency == group {
				if err := q.o.Store.CancelQueued(ctx, r.ID, fmt.Sprintf("superseded by run %d", id)); err != nil && !errors.Is(err, store.ErrNotQueued) {
					return nil, false, err
				}
			}
		}
		if cancelRunning {
			for rid, a := range q.running {
				if a.group == group {
					if _, stopped := q.stop(ctx, rid, a, fmt.Sprintf("superseded by run %d (concurrency group %s, cancel_in_progress)", id, group)); stopped {
						q.log.Info("runs: cancelling a run in progress", "run", rid, "by", id, "group", group)
					}
				}
			}
		}
	}
	q.poke()
	out := Info(*rec, nil)
	return &out, true, nil
}

// RecordInvalid records runs that could not be planned because the
// commit's tug.yaml is invalid: one failed run per pipeline the server's
// config says the event starts (at least one), showing the errors.
func (q *Queue) RecordInvalid(ctx context.Context, spec Spec, pipelines []string, cfgErr error) ([]RunInfo, error) {
	if len(pipelines) == 0 {
		pipelines = []string{configJob}
	}
	var out []RunInfo
	for _, name := range pipelines {
		s := spec
		s.Pipeline = name
		rec := storeRun(s, "")
		id, err := q.o.Store.CreateRun(ctx, rec)
		if err != nil {
			return out, err
		}
		q.failRun(ctx, id, "tug.yaml at "+ShortID(spec.Commit)+" is invalid; the server keeps its config", errorLines(cfgErr))
		if r, _, err := q.o.Store.GetRun(ctx, id); err == nil {
			q.report(ctx, *r, store.StatusFailed)
			out = append(out, Info(*r, nil))
		}
	}
	return out, nil
}
