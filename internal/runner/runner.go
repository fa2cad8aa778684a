// Package runner orchestrates pipeline runs the same way wherever they
// start: `tug run` in-process, and the server for pushes, webhooks,
// schedules and manual requests. It plans the run, selects its jobs,
// resolves their secrets, records it in the history (the same records
// either way), and runs it with the pipeline engine, the shared job cache
// and the executors. On the server it also keeps the run queue: runs
// wait in the store, start up to server.max_parallel_runs at once, each
// in its own git worktree of its commit, in concurrency groups.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// How a run was started: Spec.Origin, `tug runs`' event.
const (
	OriginCLI      = "cli"      // a local `tug run`
	OriginManual   = "manual"   // `tug run --remote`, POST /api/runs
	OriginPush     = "push"     // a new commit or tag seen in a repository
	OriginWebhook  = "webhook"  // a forge's push or tag webhook
	OriginSchedule = "schedule" // a pipeline's schedule
)

// Origins lists the origins in the order messages name them.
func Origins() []string {
	return []string{OriginPush, OriginSchedule, OriginWebhook, OriginManual, OriginCLI}
}

// Spec is what one run is for.
type Spec struct {
	Pipeline string `json:"pipeline"`
	// Jobs restricts the run to these jobs (as a person names them) and
	// what they need; manual jobs run only when named.
	Jobs     []string `json:"jobs,omitempty"`
	NoCache  bool     `json:"no_cache,omitempty"`
	Parallel int      `json:"parallel,omitempty"`
	// Event is what `if:` sees as event and `on:` must name: push, tag,
	// manual or schedule.
	Event string `json:"event"`
	// Origin says how the run was started (OriginCLI, ...).
	Origin string `json:"origin"`
	// Trigger names who or what started it (a user, a forge, a schedule).
	Trigger string `json:"trigger,omitempty"`
	Branch  string `json:"branch,omitempty"`
	Tag     string `json:"tag,omitempty"`
	Commit  string `json:"commit,omitempty"`
	// Repository is the forge repository ("owner/name") of the commit,
	// for commit statuses.
	Repository string `json:"repository,omitempty"`
	// Source is the git directory the commit is read from (the server's
	// mirror); "" for a run in a working copy.
	Source string `json:"source,omitempty"`
	// Resumed: a server stopped this run while a job waited for approval
	// and queued it again; its deploys find what they did before.
	Resumed bool `json:"resumed,omitempty"`
}

// Options wire a Runner. Store is required.
type Options struct {
	Store *store.Store
	// StateDir holds the job cache and the artifacts.
	StateDir string
	// Secrets resolves secret names for jobs; nil fails a job that asks
	// for a secret.
	Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)
	// Deployer runs deploy jobs; Source (the mirror a server run's commit
	// is in) is given per run by DeployerFor when set.
	Deployer pipeline.Deployer
	// DeployerFor, when set, gives the deployer of one run.
	DeployerFor func(spec Spec) pipeline.Deployer
	// Scanner runs scan jobs; nil makes them fail, saying so.
	Scanner pipeline.Scanner
	// ScannerFor, when set, gives the scanner of one run, with the run's
	// tug.yaml and checkout (a server run's worktree).
	ScannerFor func(cfg *config.Config, dir string) pipeline.Scanner
	LookupEnv  func(string) (string, bool)
	Logger     *slog.Logger
}

// Runner runs pipelines. It is safe for concurrent use; runs share its
// job cache. Close releases the cache.
type Runner struct {
	o Options

	mu    sync.Mutex
	cache *cache.Cache
	// noCache: opening the cache failed once; jobs run without it.
	noCache bool
}

// New returns a Runner.
func New(o Options) *Runner {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	return &Runner{o: o}
}

// Close saves what the cache learned.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache != nil {
		return r.cache.Close()
	}
	return nil
}

// Prepared is a run planned and checked, nothing started: its plan, its
// selected jobs and their secrets.
type Prepared struct {
	Config *config.Config
	Dir    string
	Spec   Spec
	Plan   *pipeline.Plan
	Sel    *pipeline.Selection
	// Secrets are the values the run's jobs ask for; the caller makes
	// its output mask them.
	Secrets map[string]secret.Value
}

// ErrEventRefused means the pipeline's on: does not name the run's event.
var ErrEventRefused = errors.New("the pipeline does not run for this event")

// Prepare plans spec's pipeline of cfg for a run in dir and resolves the
// secrets of the jobs that may run. Nothing is started or recorded.
func (r *Runner) Prepare(ctx context.Context, cfg *config.Config, dir string, spec Spec) (*Prepared, error) {
	plan, err := pipeline.NewPlan(cfg, spec.Pipeline)
	if err != nil {
		return nil, err
	}
	sel, err := pipeline.Select(plan, spec.Jobs)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, j := range sel.Runnable() {
		if j.Config != nil {
			names = append(names, j.Config.Secrets...)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var values map[string]secret.Value
	if len(names) > 0 {
		if r.o.Secrets == nil {
			return nil, fmt.Errorf("%w: jobs ask for secrets %v and no secret source is configured", secret.ErrMissing, names)
		}
		if values, err = r.o.Secrets(ctx, names); err != nil {
			return nil, err
		}
	}
	return &Prepared{Config: cfg, Dir: dir, Spec: spec, Plan: plan, Sel: sel, Secrets: values}, nil
}

// CheckEvent refuses a run for an event the pipeline's on: does not name.
func (p *Prepared) CheckEvent() error {
	pl := p.Config.Pipelines[p.Spec.Pipeline]
	if pl == nil || pl.Allows(p.Spec.Event) {
		return nil
	}
	return fmt.Errorf("%w: pipeline %s runs on %v, not %s", ErrEventRefused, p.Spec.Pipeline, pl.Events(), p.Spec.Event)
}

// Record creates the run's history record, running now, and returns its
// ID. The server's queued runs are recorded when queued instead.
func (r *Runner) Record(ctx context.Context, p *Prepared) (int64, error) {
	return r.o.Store.CreateRun(ctx, storeRun(p.Spec, p.Dir))
}

// storeRun is the history record of a run for spec.
func storeRun(s Spec, dir string) *store.Run {
	return &store.Run{
		Pipeline: s.Pipeline, Branch: s.Branch, Commit: s.Commit, Tag: s.Tag, Event: s.Event,
		Trigger: s.Trigger, Origin: s.Origin, Repository: s.Repository, Dir: dir,
	}
}

// Execute runs a prepared run recorded as runID, recording every event
// and handing each to obs too (nil: none). It blocks until the run ends;
// ctx cancellation cancels it (the result says cancelled). The error is
// for a run that could not start; it is recorded as failed.
func (r *Runner) Execute(ctx context.Context, p *Prepared, runID int64, obs pipeline.Observer) (*pipeline.Result, error) {
	return r.execute(ctx, p, runID, obs, nil)
}

func (r *Runner) execute(ctx context.Context, p *Prepared, runID int64, obs pipeline.Observer, changed func()) (*pipeline.Result, error) {
	rec := newRecorder(r.o.Store, runID, r.o.Logger)
	rec.changed = changed
	opts := pipeline.Options{
		Executor:  &pipeline.Host{},
		Parallel:  p.Spec.Parallel,
		Logger:    r.o.Logger,
		LookupEnv: r.o.LookupEnv,
		Deployer:  r.o.Deployer,
		Scanner:   r.o.Scanner,
		Observer:  rec,
	}
	if r.o.DeployerFor != nil {
		opts.Deployer = r.o.DeployerFor(p.Spec)
	}
	if r.o.ScannerFor != nil {
		opts.Scanner = r.o.ScannerFor(p.Config, p.Dir)
	}
	if obs != nil {
		opts.Observer = observers{rec, obs}
	}
	if c := r.jobCache(p.Config); c != nil {
		opts.Cache = c
	}
	if needsContainers(p.Sel.Runnable()) {
		d, err := pipeline.NewDocker(pipeline.DockerOptions{Logger: r.o.Logger, LookupEnv: r.o.LookupEnv})
		if err != nil {
			r.o.Logger.Warn("docker unavailable; container jobs will fail", "err", err)
		} else {
			opts.ContainerExecutor = d
		}
	}
	var only []string
	for n := range p.Sel.Named {
		only = append(only, n)
	}
	slices.Sort(only)
	res, err := pipeline.New(opts).Run(ctx, p.Plan, pipeline.RunOptions{
		RunID: strconv.FormatInt(runID, 10),
		Dir:   p.Dir,
		Only:  only,
		Context: pipeline.RunContext{
			Branch: p.Spec.Branch, Tag: p.Spec.Tag, Commit: p.Spec.Commit, Event: p.Spec.Event,
		},
		Secrets: p.Secrets,
		NoCache: p.Spec.NoCache,
	})
	if err != nil {
		rec.Close(pipeline.StatusFailed)
		return nil, err
	}
	rec.Close(res.Status)
	return res, nil
}

// jobCache is the shared job cache, opened on first use; nil when it
// cannot be (jobs then run every time).
func (r *Runner) jobCache(cfg *config.Config) *cache.Cache {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache != nil || r.noCache || r.o.StateDir == "" {
		return r.cache
	}
	c, err := cache.New(r.o.StateDir, cache.Options{MaxSize: int64(cfg.Cache.MaxSize), Logger: r.o.Logger})
	if err != nil {
		r.o.Logger.Warn("job cache unavailable; running every job", "err", err)
		r.noCache = true
		return nil
	}
	r.cache = c
	return c
}

func needsContainers(jobs []*pipeline.Job) bool {
	return slices.ContainsFunc(jobs, func(j *pipeline.Job) bool { return j.Image != "" })
}

// observers hands each event to several observers in order.
type observers []pipeline.Observer

func (m observers) Observe(ev pipeline.Event) {
	for _, o := range m {
		o.Observe(ev)
	}
}

// With returns a Runner like r recording into st (a command opens its
// history once it knows the run is good).
func (r *Runner) With(st *store.Store) *Runner {
	o := r.o
	o.Store = st
	return &Runner{o: o}
}

// ShortID shortens a commit or cache key for display.
func ShortID(k string) string {
	if len(k) > 12 {
		return k[:12]
	}
	return k
}
