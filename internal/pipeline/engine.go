package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// ErrUnknownJob means --job named a job the pipeline does not have.
var ErrUnknownJob = errors.New("unknown job")

// ErrBadRun means Run was called without what it needs (no executor, no
// plan, no run ID, no workspace).
var ErrBadRun = errors.New("cannot start run")

// Deployer releases a service; deploy jobs call it instead of a script.
//
// Contract: Deploy blocks until the release is live (or failed and rolled
// back) and returns nil only on success: its smoke checks passed too.
// req.Environment "" means the default environment. Progress goes to out
// (already secret-masking) line by line. While the release waits for a
// person (approval), Deploy calls req.Waiting with what to do, then
// req.Resumed when it goes on; either may be nil. ctx cancellation aborts
// the deploy; the Deployer leaves the service as safe as it can and
// returns an error wrapping ctx.Err(). Deploy may be called concurrently
// for different services.
type Deployer interface {
	Deploy(ctx context.Context, req DeployRequest, out io.Writer) error
}

// DeployRequest is what a deploy job asks of the Deployer.
type DeployRequest struct {
	Service, Environment string
	// Revision is the commit the run is for ("" when unknown: the
	// Deployer's own default).
	Revision string
	// Smoke are the job's checks of the release once it is live.
	Smoke []config.Smoke
	// Waiting and Resumed report a wait for a person (see Deployer).
	Waiting func(reason string)
	Resumed func()
}

// Scanner runs scan jobs in-process (tug's security scanner).
//
// Contract: Scan scans the workspace dir as spec says, printing its
// findings to out (already secret-masking), and returns their summary;
// an error means the scan could not run at all. ctx cancellation aborts
// the scan with an error wrapping ctx.Err(). Scan may be called
// concurrently.
type Scanner interface {
	Scan(ctx context.Context, dir string, spec *config.JobScan, out io.Writer) (*ScanSummary, error)
}

// ScanSummary is what a scan job found.
type ScanSummary struct {
	// BySeverity counts findings per severity name.
	BySeverity map[string]int
	// Failing counts the findings not in the baseline at or above FailOn;
	// any fails the job.
	Failing int
	FailOn  string
}

// ImageResolver is an optional interface of a container Executor: it
// gives the ID an image reference resolves to, so the cache key follows
// the image's content, not its tag.
type ImageResolver interface {
	ImageID(ctx context.Context, image string) (string, error)
}

// Options configures an Engine. Executor is required; the rest may be zero.
type Options struct {
	// Executor runs jobs without an image, on the host.
	Executor Executor
	// ContainerExecutor runs jobs with an image; nil makes them fail with
	// an error saying containers are unavailable.
	ContainerExecutor Executor
	// Parallel bounds how many jobs run at once; <= 0 means one per CPU.
	Parallel int
	// Cache skips unchanged jobs and hands artifacts on; nil disables both.
	Cache Cache
	// Deployer runs deploy jobs; nil makes them fail.
	Deployer Deployer
	// Scanner runs scan jobs; nil makes them fail.
	Scanner Scanner
	// ImageBuilder runs build_image jobs; nil builds through the Docker
	// engine DOCKER_HOST names (image.NewBuilder).
	ImageBuilder ImageBuilder
	// Observer receives every event of a run; nil drops them.
	Observer Observer
	// Now stamps events; nil means time.Now.
	Now func() time.Time
	// Logger gets the engine's own diagnostics; nil discards them.
	Logger *slog.Logger
	// KillGrace is how long a stopped job has between SIGTERM and SIGKILL;
	// zero means 10s.
	KillGrace time.Duration
	// LookupEnv reads the variables a job inherits (PATH, HOME, ...); nil
	// means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// RunContext is what a run was started for; `if:` expressions see it.
type RunContext struct {
	Branch, Tag, Commit, Event string
	// Env is visible to `if:` as env (merged with the job's env); it is
	// not passed to jobs.
	Env map[string]string
}

// RunOptions says what one run of a plan does.
type RunOptions struct {
	// RunID names the run in events, TUG_RUN_ID and the cache.
	RunID string
	// Dir is the workspace jobs run in (the repository root).
	Dir string
	// Only restricts the run to these jobs (base or instance names) and
	// everything they transitively need. Manual jobs run only when named
	// here.
	Only    []string
	Context RunContext
	// Secrets holds every secret the plan's jobs may ask for by name; a
	// job gets only those in its `secrets:`. All of them are masked in
	// every job's output.
	Secrets map[string]secret.Value
	// NoCache makes every cacheable job run (and re-save).
	NoCache bool
}

// JobResult is how one job instance ended.
type JobResult struct {
	Name   string
	Status Status
	// Attempts counts executions (0 when the job never started).
	Attempts int
	// ExitCode is the last attempt's exit status (-1 when stopped).
	ExitCode int
	Duration time.Duration
	// Reason says why the job was skipped, failed or cancelled.
	Reason string
	Cache  *CacheInfo
	Report *ReportSummary
}

// Result is how a run ended.
type Result struct {
	RunID  string
	Status Status
	// Jobs are the run's job instances in plan order.
	Jobs     []JobResult
	Duration time.Duration
}

// Engine runs plans. One Engine may run several plans concurrently.
type Engine struct {
	opts Options
}

// New returns an Engine with opts' zero fields defaulted.
func New(opts Options) *Engine {
	if opts.Parallel <= 0 {
		opts.Parallel = runtime.NumCPU()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.KillGrace <= 0 {
		opts.KillGrace = 10 * time.Second
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	return &Engine{opts: opts}
}

// Run executes plan and blocks until every job ended. The error is only
// for problems that stop the run from starting; job failures and
// cancellation (ctx done) are in the Result.
func (e *Engine) Run(ctx context.Context, plan *Plan, ro RunOptions) (*Result, error) {
	switch {
	case e.opts.Executor == nil:
		return nil, fmt.Errorf("%w: no executor", ErrBadRun)
	case plan == nil:
		return nil, fmt.Errorf("%w: no plan", ErrBadRun)
	case ro.RunID == "":
		return nil, fmt.Errorf("%w: no run ID", ErrBadRun)
	case ro.Dir == "":
		return nil, fmt.Errorf("%w: no workspace directory", ErrBadRun)
	}
	dir, err := filepath.Abs(ro.Dir)
	if err != nil {
		return nil, fmt.Errorf("%w: workspace %s: %v", ErrBadRun, ro.Dir, err)
	}
	ro.Dir = dir
	sel, err := Select(plan, ro.Only)
	if err != nil {
		return nil, err
	}
	r := newRun(e, plan, ro, sel.Jobs, sel.Named)
	return r.execute(ctx), nil
}
