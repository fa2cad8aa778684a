package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
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
	Config   *config.Config
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

// Options wires a Handler. Deployer and Config are required.
type Options struct {
	Deployer Deployer
	// Life bounds deploys and rollbacks: the server cancels it when it
	// stops. nil means they run to their end.
	Life   context.Context
	Config ConfigSource
	// Metrics serves GET /metrics; nil answers 404.
	Metrics http.Handler
	// Mount adds handlers of other rooms under path prefixes such as
	// "/api/v1/" (a trailing slash mounts the subtree).
	Mount map[string]http.Handler
	// Health is the static part of GET /api/health.
	Health HealthResponse
	// ProxyHTTP is the proxy's HTTP listener, for URLs in status.
	ProxyHTTP string
	Logger    *slog.Logger
}

// handlerFunc is an API handler: it returns an error instead of writing
// one, so errors become JSON in one place (writeError).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one API operation: how it is served and how OpenAPI
// describes it.
type route struct {
	method  string
	path    string // ServeMux syntax: /api/releases/{id}/approve
	summary string
	query   []queryParam
	body    any // a zero value of the request body type, or nil
	resp    any // a zero value of the answer type, or nil
	// stream says the answer is NDJSON StreamLines.
	stream bool
	// text is the answer's media type when not JSON.
	text string
	h    handlerFunc
}

// queryParam is one documented query parameter.
type queryParam struct {
	name, doc string
	required  bool
}

// Handler serves the JSON API. It is an http.Handler, safe for
// concurrent use.
type Handler struct {
	opts     Options
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []route
	mounts   []string
	patterns []string // every pattern given to mux, for tests
}

var _ http.Handler = (*Handler)(nil)

// NewHandler builds the API's routes.
func NewHandler(opts Options) *Handler {
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.routes = h.routeTable()
	for _, rt := range h.routes {
		h.handle(rt.method+" "+rt.path, h.adapt(rt.h))
	}
	prefixes := make([]string, 0, len(opts.Mount))
	for p := range opts.Mount {
		prefixes = append(prefixes, p)
	}
	slices.Sort(prefixes)
	for _, p := range prefixes {
		h.handle(p, opts.Mount[p])
		h.mounts = append(h.mounts, p)
	}
	h.handle("/", h.adapt(h.noRoute))
	return h
}

// noRoute answers what no route matched: 405 with Allow when the path
// exists for other methods, else 404.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := h.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return withStatus(http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Errorf("%s %s: method not allowed; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
	}
	return withStatus(http.StatusNotFound, "no_route", fmt.Errorf("no route %s %s (see GET /api/openapi.json)", r.Method, r.URL.Path))
}

func (h *Handler) handle(pattern string, hd http.Handler) {
	h.mux.Handle(pattern, hd)
	h.patterns = append(h.patterns, pattern)
}

// ServeHTTP dispatches to the route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// adapt turns a handlerFunc into an http.Handler that maps its error.
func (h *Handler) adapt(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		err := fn(tw, r)
		if err == nil {
			return
		}
		if tw.wrote {
			h.log.Warn("api: error after the answer started", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
		status, _ := toAPIError(err)
		if status >= 500 {
			h.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeError(tw, err)
	})
}

// trackingWriter remembers whether the answer has started.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// config is the config in force.
func (h *Handler) config() *config.Config {
	return h.opts.Config.Current().Config
}

// who is the actor recorded for a change: the body's, else the peer.
func who(given string) string {
	if s := strings.TrimSpace(given); s != "" {
		return s
	}
	return "api"
}
