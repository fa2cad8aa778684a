package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secretstore"
)

// Deployer is the deploy manager as the API sees it; *deploy.Manager
// implements it. Methods are called concurrently from request
// goroutines; each honours ctx. Deploy and Rollback get Options.Life, not
// the request's context: a client that stops following (Ctrl-C, a
// dropped connection) leaves them running. They block until the release
// is live or failed and report progress through the callback, which the
// API never lets block.
type Deployer interface {
	Deploy(ctx context.Context, req deploy.Request, progress deploy.Progress) (*deploy.Release, error)
	Rollback(ctx context.Context, service, env, who string, progress deploy.Progress) (*deploy.Release, error)
	Approve(ctx context.Context, id, who string) (*deploy.Release, error)
	Reject(ctx context.Context, id, who string) (*deploy.Release, error)
	Releases(ctx context.Context, service, env string) ([]deploy.Release, error)
	Status(ctx context.Context) ([]deploy.ServiceStatus, error)
	// Down stops the services of env ("" for all) and forgets their
	// deploy state; it returns the instances stopped.
	Down(ctx context.Context, env string) ([]string, error)
}

var _ Deployer = (*deploy.Manager)(nil)

// ConfigSnapshot is the config in force and when it took effect.
type ConfigSnapshot struct {
	Config *config.Config
	// Source is the file's bytes as read, for showing it as written.
	Source   []byte
	LoadedAt time.Time
	// Hash is the SHA-256 of the file's bytes, hex.
	Hash string
	// Warnings are problems that do not stop the config (a rule over a
	// metric no source produces), positioned.
	Warnings config.Errors
	// Restart lists the changed keys the running server does not apply
	// (Apply only), with why.
	Restart []config.Restart
}

// ErrNotApplied is what ConfigSource.Apply wraps when a valid config did
// not take effect in full (the proxy refused the new routes, the alert
// rules did not build): the config in force stays, applying again retries.
var ErrNotApplied = errors.New("config not applied")

// ConfigSource is the server's tug.yaml. Current never returns a nil
// Config once the server serves. Apply re-reads the file and validates it
// first: on any error (matching config.ErrInvalid for bad content) the
// config in force stays, and the error is returned; changed says whether
// the new file differs from the one in force. Both are safe for
// concurrent use.
type ConfigSource interface {
	Current() ConfigSnapshot
	Apply(ctx context.Context) (snap ConfigSnapshot, changed bool, err error)
}

// Options wire a Handler. Deployer and Config are required; a room left
// nil answers its operations with 503 "unavailable".
type Options struct {
	Deployer Deployer
	// Life bounds deploys and rollbacks: the server cancels it when it
	// stops. nil means they run to their end.
	Life   context.Context
	Config ConfigSource
	// Metrics serves GET /metrics.
	Metrics http.Handler
	// Alerts returns the alert engine in force (the server swaps it when
	// the config changes).
	Alerts func() *alert.Engine
	// Logs serves GET /api/logs.
	Logs *logs.Logs
	// Monitor serves the Prometheus-compatible API under /api/v1/.
	Monitor *metrics.Monitor
	// Tokens authenticates requests on TCP listeners and serves the
	// tokens API; nil refuses every TCP request that needs a token.
	Tokens *access.Tokens
	// Audit records every change made through the API, every audited
	// read, and every refused credential or role, and serves the audit
	// API; nil records nothing.
	Audit *audit.Log
	// Now is the clock of the audit API's since (default time.Now).
	Now func() time.Time
	// Security gathers what GET /api/doctor/security checks; nil answers
	// 503.
	Security func(context.Context) (doctor.Inputs, error)
	// Secrets serves the secrets API (/api/secrets).
	Secrets *secretstore.Service
	// Flags serves /api/flags; nil answers that the server runs none.
	Flags *flags.Manager
	// Runs is the server's run queue (/api/runs, /api/push); nil answers
	// them unavailable.
	Runs *runner.Queue
	// Hooks receives forge webhooks (/hooks/*); nil refuses them.
	Hooks *forge.Hooks
	// Incidents returns the incident room (nil: its operations answer
	// 503).
	Incidents func() *incident.Manager
	// Backups returns the backup room (nil: its operations answer 503).
	Backups func() *backup.Manager
	// Health is the static part of GET /api/health.
	Health HealthResponse
	// ProxyHTTP is the proxy's HTTP listener, for URLs in status.
	ProxyHTTP string
	Logger    *slog.Logger
}

// Handler serves the JSON API: every operation of the route table, on
// the unix socket as the local admin's and on TCP through Remote. It is an
// http.Handler, safe for concurrent use.
type Handler struct {
	opts   Options
	log    *slog.Logger
	router *endpoint.Router
}

var _ http.Handler = (*Handler)(nil)

// NewHandler builds the API's routes; an error is a bad route table.
func NewHandler(opts Options) (*Handler, error) {
	h := &Handler{opts: opts, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	rt, err := endpoint.NewRouter(h.routeTable(), endpoint.Options{
		Codes:   errorCodes(),
		Details: configDetails,
		Check:   h.check,
		Logger:  h.log,
	})
	if err != nil {
		return nil, err
	}
	h.router = rt
	return h, nil
}

// Ops is the route table.
func (h *Handler) Ops() []endpoint.Op { return h.router.Ops() }

// ServeHTTP serves the unix socket: its peer is the local admin, named
// by the identity the server put in the connection's context
// (access.SocketPeer), else "local". It also serves in-process calls
// (InProcess), which carry their caller's identity and source.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, ok := access.IdentityOf(r.Context()); !ok {
		r = r.WithContext(access.WithIdentity(r.Context(), localAdmin))
	}
	source := "unix"
	if s := sourceOf(r.Context()); s != "" {
		source = s
	}
	h.serve(w, r, h.router.Match(r), source)
}

// config is the config in force.
func (h *Handler) config() *config.Config {
	return h.opts.Config.Current().Config
}

func trimmed(s string) string { return strings.TrimSpace(s) }
