// Package deploy turns a service's config into running releases: it builds
// immutable releases, starts their instances through a runtime, gates them
// on health, moves traffic through the proxy by strategy (rolling,
// blue-green, canary), analyses canaries and rolls back on its own.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/image"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// Sentinel errors; the API maps them to HTTP statuses.
var (
	// ErrFailed: the deploy ran and failed (health gate, analysis, build);
	// traffic stayed on or went back to the previous release.
	ErrFailed = errors.New("deploy failed")
	// ErrUnknownService / ErrUnknownEnvironment: bad input, nothing changed.
	ErrUnknownService     = errors.New("unknown service")
	ErrUnknownEnvironment = errors.New("unknown environment")
	// ErrBusy: another deploy of the same service and environment runs.
	ErrBusy = errors.New("a deploy of this service and environment is in progress")
	// ErrNoPrevious: rollback has no earlier good release to go to.
	ErrNoPrevious = errors.New("no previous good release")
	// ErrNotAwaiting: approve of a release that does not wait for approval.
	ErrNotAwaiting = errors.New("release is not awaiting approval")
	// ErrFailedElsewhere: the revision failed (or was rolled back) in
	// another environment and has not gone live there since; nothing was
	// recorded. Request.Force deploys it anyway.
	ErrFailedElsewhere = errors.New("revision failed in another environment")
	// ErrServerStopping is the cause the server cancels deploys with when
	// it stops: a release waiting for approval then keeps waiting, for
	// the next server to resume (ResumeApprovals), instead of failing.
	ErrServerStopping = errors.New("the server is stopping")
)

// Router is the proxy as the deployer sees it. proxy.Client implements it.
// Apply replaces the whole table; calls are safe concurrently; each honours
// ctx. Stats counters are cumulative since the proxy started.
type Router interface {
	Apply(ctx context.Context, t *proxy.Table) error
	Table(ctx context.Context) (*proxy.Table, error)
	Stats(ctx context.Context) ([]proxy.Stats, error)
	Backends(ctx context.Context) ([]proxy.BackendStatus, error)
}

var _ Router = (*proxy.Client)(nil)

// ImageResolver turns an image reference into the immutable image ID or
// digest a docker release pins. A docker runtime that implements it is
// used for that; otherwise the reference itself is recorded. Safe for
// concurrent use; honours ctx.
type ImageResolver interface {
	ResolveImage(ctx context.Context, ref string) (string, error)
}

// ImagePuller pulls an image reference afresh, for services with pull:
// true (a moving tag); a docker runtime that implements it is asked to
// before ResolveImage. Safe for concurrent use; honours ctx.
type ImagePuller interface {
	PullImage(ctx context.Context, ref string) error
}

// ImageBuilder builds the image of a service with build_image at a
// release's commit, or finds the one a pipeline already built and pushed
// for it. image.Builder implements it. Find's found is false when the
// image must be built; both write progress to out line by line, are safe
// for concurrent use and honour ctx.
type ImageBuilder interface {
	Find(ctx context.Context, req image.Request, out io.Writer) (image.Result, bool, error)
	Build(ctx context.Context, req image.Request, out io.Writer) (image.Result, error)
}

var _ ImageBuilder = (*image.Builder)(nil)

// Options wires a Manager. Runtimes maps "process" and "docker" to their
// runtime; a service with image: uses "docker".
type Options struct {
	Store    *store.Store
	Runtimes map[string]runtime.Runtime
	Router   Router
	// RepoDir is the git repository releases are exported from.
	RepoDir string
	// StateDir holds release copies (StateDir/releases/ID).
	StateDir string
	Now      func() time.Time
	Logger   *slog.Logger
	// Query evaluates a PromQL expression to one number, for canary
	// analysis queries. Nil: a service with analysis.queries fails to
	// deploy with an error saying so.
	Query func(ctx context.Context, expr string) (float64, error)
	// Secrets resolves the secret names a service asks for in its
	// environment; a release records where each value came from and
	// which version it was, so starting it again (a restart, a rollback)
	// gets the same values. Nil: a service with secrets fails to deploy
	// with an error saying so.
	Secrets secret.Resolver
	// Images builds the images of services with build_image. Nil: such
	// services fail to deploy with an error saying so.
	Images ImageBuilder
	// PollInterval is how often drains and canary analyses re-check the
	// proxy. Default 100ms.
	PollInterval time.Duration
	// ProgressEvery is how often a health gate that still waits says so
	// (default 5s).
	ProgressEvery time.Duration
	// Flags gives every routing table its flag set and every instance its
	// flag variables and client key; nil: no flags.
	Flags FlagSource
	// ExtraRoutes are routes of the config that lead to tug itself rather
	// than to a service (the public status page), added to every table as
	// routes of service TugService (which Recover never adopts); a route a
	// service claims wins. It must be a pure function of c.
	ExtraRoutes func(c *config.Config) []TugRoute
}

// TugService is the service name of routes that lead to tug itself.
const TugService = "tug"

// TugRoute is a route to a listener of tug itself.
type TugRoute struct {
	// Route is a host name with an optional /path prefix, as services'
	// routes are written.
	Route string
	// Name names it in the table (its environment and release).
	Name string
	// Addr is the listener, host:port.
	Addr string
}

// Request asks for a release of Service to Environment at Version (a git
// revision for process services, default HEAD; ignored for images).
type Request struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Version     string `json:"version,omitempty"`
	Who         string `json:"who,omitempty"`
	// Force deploys a revision that failed in another environment.
	Force bool `json:"force,omitempty"`
	// Source is the git directory Version is read from (the server's
	// mirror of a pushed repository); "" means RepoDir.
	Source string `json:"source,omitempty"`
	// Smoke are checks of the release once all traffic is on it (a deploy
	// job's smoke:); a failure sends traffic back and fails the deploy.
	Smoke []config.Smoke `json:"smoke,omitempty"`
}

// Release statuses.
const (
	StatusPending    = "pending"
	StatusAwaiting   = "awaiting_approval"
	StatusDeploying  = "deploying"
	StatusLive       = "live"
	StatusFailed     = "failed"
	StatusRolledBack = "rolled_back"
	StatusSuperseded = "superseded"
)

// Release is one immutable version of a service in one environment.
type Release struct {
	ID          string     `json:"id"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Revision    string     `json:"revision,omitempty"`
	Digest      string     `json:"digest,omitempty"`
	ConfigHash  string     `json:"config_hash"`
	Who         string     `json:"who"`
	CreatedAt   time.Time  `json:"created_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Strategy    string     `json:"strategy"`
	Status      string     `json:"status"`
	// Reason says why a deploy failed or was rolled back, with the last
	// log lines and the failing check.
	Reason     string     `json:"reason,omitempty"`
	ApprovedBy string     `json:"approved_by,omitempty"`
	ApprovedAt *time.Time `json:"approved_at,omitempty"`
	// Secrets says which version of each secret the release got, and
	// from where; a rollback to it gets the same.
	Secrets map[string]secret.Ref `json:"secrets,omitempty"`
}

// Event is one line of deploy progress.
type Event struct {
	Time    time.Time `json:"time"`
	Release string    `json:"release"`
	Phase   string    `json:"phase"` // build, start, health, traffic, analysis, smoke, drain, done, failed, approval
	Message string    `json:"message"`
	// Awaiting marks the event saying the release waits for approval.
	Awaiting bool `json:"awaiting,omitempty"`
}

// Progress receives events while a deploy runs; it must not block long.
type Progress func(Event)

// ServiceStatus is the live state of one service in one environment.
type ServiceStatus struct {
	Service     string             `json:"service"`
	Environment string             `json:"environment"`
	Routes      []string           `json:"routes"`
	Live        []LivePool         `json:"live"`
	Instances   []runtime.Instance `json:"instances"`
	Deploying   *Release           `json:"deploying,omitempty"`
}

// LivePool is a release taking traffic and its weight.
type LivePool struct {
	Release string `json:"release"`
	Weight  int    `json:"weight"`
}

// key names one service in one environment.
type key struct{ service, env string }

func (k key) String() string { return k.service + "/" + k.env }

// Manager runs deploys. All methods are safe for concurrent use; deploys
// of different service/environment pairs run in parallel, the same pair
// is serialized (ErrBusy).
type Manager struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time

	// mu guards everything below; persisting a state happens under it so
	// saves of one key are never reordered.
	mu     sync.Mutex
	cfg    *config.Config
	states map[key]*envState
	busy   map[key]*Release
	chores map[key]bool // busy with housekeeping (a rollback window ending)
	// freed is closed, and replaced, whenever a key stops being busy, so
	// whoever waits for one (acquire, Shutdown) is woken, not polling.
	freed     chan struct{}
	approvals map[string]chan approval
	timers    map[key]*time.Timer
	// tableFloor is the lowest version the next table push may carry
	// (the proxy's version + 1 after Recover).
	tableFloor int64

	// pushMu serializes table pushes so versions reach the proxy in order.
	pushMu sync.Mutex

	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Manager; call SetConfig before the first deploy and
// Recover once at start.
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("deploy: Options.Store is required")
	}
	if opts.Router == nil {
		return nil, errors.New("deploy: Options.Router is required")
	}
	if opts.StateDir == "" {
		return nil, errors.New("deploy: Options.StateDir is required")
	}
	m := &Manager{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		states:    map[key]*envState{},
		busy:      map[key]*Release{},
		chores:    map[key]bool{},
		freed:     make(chan struct{}),
		approvals: map[string]chan approval{},
		timers:    map[key]*time.Timer{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.opts.ProgressEvery <= 0 {
		m.opts.ProgressEvery = 5 * time.Second
	}
	if m.opts.PollInterval <= 0 {
		m.opts.PollInterval = 100 * time.Millisecond
	}
	m.bg, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// SetConfig swaps in a validated config; deploys already running keep the
// config they started with.
func (m *Manager) SetConfig(c *config.Config) {
	m.mu.Lock()
	m.cfg = c
	m.mu.Unlock()
}

func (m *Manager) config() *config.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// acquire marks k busy with rel for a deploy or rollback, or fails with
// ErrBusy when another one runs. Housekeeping on k (a rollback window
// ending) is waited for instead: it ends within the drain timeout, and a
// user should not see it as a deploy in progress.
func (m *Manager) acquire(ctx context.Context, k key, rel *Release) error {
	if rel != nil {
		c := *rel // the caller keeps changing its own copy
		rel = &c
	}
	for {
		m.mu.Lock()
		_, held := m.busy[k]
		chore, freed := m.chores[k], m.freed
		if !held {
			m.busy[k] = rel
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		if !chore {
			return fmt.Errorf("%w: %s", ErrBusy, k)
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// acquireChore marks k busy with housekeeping; false when anything holds
// k already.
func (m *Manager) acquireChore(k key) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, held := m.busy[k]; held {
		return false
	}
	m.busy[k], m.chores[k] = nil, true
	return true
}

func (m *Manager) release(k key) {
	m.mu.Lock()
	delete(m.busy, k)
	delete(m.chores, k)
	close(m.freed)
	m.freed = make(chan struct{})
	m.mu.Unlock()
}

// setBusy updates the release shown as in progress for k.
func (m *Manager) setBusy(k key, rel *Release) {
	m.mu.Lock()
	if _, ok := m.busy[k]; ok {
		c := *rel
		m.busy[k] = &c
	}
	m.mu.Unlock()
}

// Shutdown stops background work; with stopServices it also drains and
// stops every instance.
func (m *Manager) Shutdown(ctx context.Context, stopServices bool) error {
	m.mu.Lock()
	m.cancel()
	for k, t := range m.timers {
		t.Stop()
		delete(m.timers, k)
	}
	m.mu.Unlock()
	m.wg.Wait()
	// Deploys run on after their clients left; cancelled, they wind down
	// (back to the previous release) before instances may be stopped.
	// Each one's end wakes this wait; ctx bounds it.
wait:
	for {
		m.mu.Lock()
		n, freed := len(m.busy), m.freed
		m.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-freed:
		case <-ctx.Done():
			m.log.Warn("deploy manager: stopped waiting for deploys to wind down", "busy", n, "err", ctx.Err())
			break wait
		}
	}
	if !stopServices {
		return nil
	}
	return m.stopAll(ctx)
}

// emit sends an event to progress (if any) and the log.
func emit(progress Progress, now func() time.Time, rel, phase, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if progress != nil {
		progress(Event{Time: now(), Release: rel, Phase: phase, Message: msg})
	}
}

// ApplyConfig puts c in force for the next deploys and, when the routes,
// health checks or stickiness it gives the running releases differ from
// those of the config before, pushes the routing table at once. An error
// means the proxy did not take the new table; c is in force for deploys
// all the same, and the next push carries it.
func (m *Manager) ApplyConfig(ctx context.Context, c *config.Config) error {
	m.mu.Lock()
	before := m.buildTable()
	m.cfg = c
	after := m.buildTable()
	m.mu.Unlock()
	if reflect.DeepEqual(before, after) {
		return nil
	}
	if err := m.push(ctx); err != nil {
		return fmt.Errorf("routes, health checks or stickiness not applied: %w", err)
	}
	return nil
}
