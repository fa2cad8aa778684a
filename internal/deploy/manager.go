// Package deploy turns a service's config into running releases: it builds
// immutable releases, starts their instances through a runtime, gates them
// on health, moves traffic through the proxy by strategy (rolling,
// blue-green, canary), analyses canaries and rolls back on its own.
package deploy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
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
}

// Request asks for a release of Service to Environment at Version (a git
// revision for process services, default HEAD; ignored for images).
type Request struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Version     string `json:"version,omitempty"`
	Who         string `json:"who,omitempty"`
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
}

// Event is one line of deploy progress.
type Event struct {
	Time    time.Time `json:"time"`
	Release string    `json:"release"`
	Phase   string    `json:"phase"` // build, start, health, traffic, analysis, drain, done, failed, approval
	Message string    `json:"message"`
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

// Manager runs deploys. All methods are safe for concurrent use; deploys
// of different service/environment pairs run in parallel, the same pair
// is serialized (ErrBusy).
type Manager struct {
	opts Options
}

// New returns a Manager; call SetConfig before the first deploy and
// Recover once at start.
func New(opts Options) (*Manager, error) {
	return &Manager{opts: opts}, nil
}

// SetConfig swaps in a validated config; deploys already running keep the
// config they started with.
func (m *Manager) SetConfig(c *config.Config) {}

// Recover adopts instances and the proxy's table after a server restart
// and finishes or rolls back the deploys that were in flight.
func (m *Manager) Recover(ctx context.Context, progress Progress) error { return nil }

// Deploy builds, starts and switches to a new release, blocking until it
// is live or failed. With approval required it waits for Approve.
func (m *Manager) Deploy(ctx context.Context, req Request, progress Progress) (*Release, error) {
	return nil, errors.ErrUnsupported
}

// Rollback goes back to the previous good release of service in env.
func (m *Manager) Rollback(ctx context.Context, service, env, who string, progress Progress) (*Release, error) {
	return nil, errors.ErrUnsupported
}

// Approve lets a release waiting for approval proceed.
func (m *Manager) Approve(ctx context.Context, id, who string) (*Release, error) {
	return nil, errors.ErrUnsupported
}

// Releases lists releases of service (all environments if env is ""),
// newest first.
func (m *Manager) Releases(ctx context.Context, service, env string) ([]Release, error) {
	return nil, errors.ErrUnsupported
}

// Status returns the live state of every service and environment.
func (m *Manager) Status(ctx context.Context) ([]ServiceStatus, error) {
	return nil, errors.ErrUnsupported
}

// Shutdown stops background work; with stopServices it also drains and
// stops every instance.
func (m *Manager) Shutdown(ctx context.Context, stopServices bool) error { return nil }
