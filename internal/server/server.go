// Package server composes tug's control plane into one daemon: it loads
// and watches tug.yaml, keeps the proxy (the data plane) running, wires
// the deploy manager to the runtimes and the proxy, and serves the JSON
// API on the state directory's unix socket (and optionally on TCP).
// Stopping the server leaves services and the proxy running; the next
// start adopts them.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/image"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/web"
)

// DefaultHTTPAddr is the proxy's HTTP listener when neither the command
// line nor tug.yaml's proxy.http names one.
const DefaultHTTPAddr = "127.0.0.1:8080"

// maxSocketPath is the longest unix socket path Linux accepts (sun_path
// is 108 bytes with the terminating NUL).
const maxSocketPath = 107

// Options configure a server. ConfigPath and StateDir are required;
// everything else has a usable zero value.
type Options struct {
	ConfigPath string
	StateDir   string
	// HTTPAddr is the proxy's listener; "" means tug.yaml's proxy.http,
	// else DefaultHTTPAddr. It matters only when the proxy is started,
	// not when a running one is adopted.
	HTTPAddr string
	// ListenAddr, when set, also serves the API on TCP ("127.0.0.1:7070"),
	// where every request needs an API token (see access.Tokens) unless
	// InsecureNoAuth serves requests without one as the admin's (logged
	// loudly at every start).
	ListenAddr     string
	InsecureNoAuth bool
	// ListenTLS, when set, serves ListenAddr over TLS (listentls.go).
	ListenTLS *ListenTLS
	// AllowHosts are host names clients may reach the TCP API by, besides
	// its address and localhost (see api.RemoteOptions).
	AllowHosts []string
	// StopServices stops every instance and the proxy when Run returns;
	// otherwise they keep running for the next server to adopt.
	StopServices bool
	// Force starts on a state directory whose history does not record
	// the releases and instances it holds (see checkHistory).
	Force bool
	// ProxyCommand is the argv that starts `tug proxy` (flags are added).
	ProxyCommand []string
	// MaskLog is the argv that starts `tug mask-log`, through which
	// process instances with secrets write their output masked (see
	// runtime.ProcessOptions).
	MaskLog []string
	// SecretsInit is a static tug binary; given, Docker services get their
	// secrets through a file its `secret-env` command reads, not through
	// their container's configuration (see runtime.DockerOptions).
	SecretsInit string
	// OnConfig is called with every config that takes effect, the first
	// one included, serialized.
	OnConfig func(*config.Config)
	// Query evaluates PromQL for canary analysis queries (the metrics
	// room provides it); nil makes such analyses fail with a clear error.
	Query func(ctx context.Context, expr string) (float64, error)
	// Secrets resolves secret names that belong to no environment
	// (notification channels, webhooks); nil resolves them as services'
	// are, from the secret store (or Vault), then the environment and the
	// repository's .tug/secrets.env.
	Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)
	// SecretOverrides are secret values that win over the store, Vault,
	// the environment and the local file, for every room: a drill's
	// scratch server gives its services the scratch databases' URLs with
	// them. nil: none.
	SecretOverrides map[string]secret.Value
	// BackupRecorder receives the changes backups make (runs, restores,
	// prunes), for the audit log; nil records nothing.
	BackupRecorder backup.Recorder
	// DrillCommand is the argv that starts `tug` for a scheduled drill
	// (`dr drill` is added); nil schedules none.
	DrillCommand []string
	// Drill marks the scratch server of a drill: it runs no backups.
	Drill bool
	// Registry collects the server's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Ready is called once the API serves.
	Ready func(Info)
	// Debounce is how long the config watcher waits for quiet (default 300ms).
	Debounce  time.Duration
	Version   string
	LookupEnv func(string) (string, bool)
	Logger    *slog.Logger
	Now       func() time.Time
}

// Info says where a running server can be reached.
type Info struct {
	// Socket is the API's unix socket.
	Socket string
	// Listen is the TCP API address actually bound ("" without --listen),
	// served over TLS when ListenTLS.
	Listen    string
	ListenTLS bool
	// HTTPAddr is the proxy's listener as requested.
	HTTPAddr string
	PID      int
}

// Run serves until ctx ends, then shuts down as Options say. It returns
// ErrRunning when another server holds the state directory, config
// errors (matching config.ErrInvalid) when tug.yaml is invalid at start.
func Run(ctx context.Context, opts Options) error {
	o, err := defaults(opts)
	if err != nil {
		return err
	}
	d := &daemon{o: o, log: o.Logger}
	defer d.close()
	for _, step := range []func(context.Context) error{
		d.lockStateDir,
		d.checkState,
		d.registerMetrics,
		d.loadConfig,
		d.openAccess,
		d.openSecrets,
		d.openStore,
		d.startProxy,
		d.startLogs,
		d.openRuntimes,
		d.openStatusPage,
		d.openMonitoring,
		d.startRegistry,
		d.startFlags,
		d.startDeploys,
		d.startIncidents,
		d.startFlagRamps,
		d.startBackups,
		d.startRuns,
		d.listen,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return d.serve(ctx)
}

// daemon is a server being started, run and stopped: the steps of Run
// fill it in order, and close undoes what they did, last first.
type daemon struct {
	o   Options
	log *slog.Logger
	// undo holds what close runs, in reverse.
	undo []func()

	reloads  *prometheus.CounterVec
	src      *configSource
	cfg      *config.Config
	secrets  *secretsRoom
	httpAddr string
	// flagsListen is the proxy's OFREP-only listener for containers and
	// flagsAddr where containers reach OFREP (containerFlags).
	flagsListen, flagsAddr string
	store                  *store.Store
	px                     *proxySupervisor
	logs                   *logs.Logs
	runtimes               map[string]runtime.Runtime
	rts                    atomic.Pointer[map[string]runtime.Runtime]
	mon                    *monitoring
	mgr                    *deploy.Manager
	images                 *image.Builder
	flags                  *flags.Manager
	runs                   *runner.Queue
	hooks                  *forge.Hooks
	incidents              *incidentRoom
	backups                *backups
	reqCtx                 context.Context
	stopReqs               context.CancelCauseFunc
	api                    *api.Handler
	tokens                 *access.Tokens
	audit                  *audit.Log
	apiCerts               *proxy.Certs
	servers                []*http.Server
	listeners              []net.Listener
	info                   Info
}

// later registers f to run when the daemon closes.
func (d *daemon) later(f func()) { d.undo = append(d.undo, f) }

// close undoes the steps, last first.
func (d *daemon) close() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
}

// lockStateDir makes the state directory and takes its one-server lock.
func (d *daemon) lockStateDir(context.Context) error {
	if err := os.MkdirAll(d.o.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	lock, err := acquireLock(d.o.StateDir)
	if err != nil {
		return err
	}
	d.later(lock.release)
	return nil
}

// checkState refuses a state directory whose history was lost (see
// statecheck.go).
func (d *daemon) checkState(ctx context.Context) error { return checkState(ctx, d.o) }

// registerMetrics adds the server's own collectors to the registry.
func (d *daemon) registerMetrics(context.Context) error {
	d.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tug_server_config_reloads_total",
		Help: "Config reloads by result: applied, unchanged, invalid (refused), error.",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{
		d.reloads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tug_server_up", Help: "1 while the tug server runs."}, func() float64 { return 1 }),
	} {
		// A registry shared with other rooms may hold the Go and process
		// collectors already; that is fine.
		err := d.o.Registry.Register(c)
		var are prometheus.AlreadyRegisteredError
		switch {
		case errors.As(err, &are):
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok && c == d.reloads {
				d.reloads = existing
			}
		case err != nil:
			return fmt.Errorf("server metrics: %w", err)
		}
	}
	return nil
}

// loadConfig reads tug.yaml; an invalid file stops the start.
func (d *daemon) loadConfig(ctx context.Context) error {
	d.src = &configSource{
		path: d.o.ConfigPath, lookupEnv: d.o.LookupEnv, now: d.o.Now, log: d.log,
		counted: func(r string) { d.reloads.WithLabelValues(r).Inc() },
		check:   func(c *config.Config) (config.Errors, error) { return Check(ctx, c) },
	}
	if err := d.src.init(); err != nil {
		return err
	}
	d.cfg = d.src.Current().Config
	d.httpAddr = d.o.HTTPAddr
	if d.httpAddr == "" && d.cfg.Proxy != nil && d.cfg.Proxy.HTTP != "" {
		d.httpAddr = d.cfg.Proxy.HTTP
	}
	if d.httpAddr == "" {
		d.httpAddr = DefaultHTTPAddr
	}
	return nil
}

func (d *daemon) openStore(ctx context.Context) error {
	st, err := store.Open(ctx, d.o.StateDir, store.Options{Now: d.o.Now, Logger: d.log})
	if err != nil {
		return err
	}
	d.store = st
	d.later(func() { st.Close() })
	return nil
}

// startProxy adopts the running proxy or starts one.
func (d *daemon) startProxy(ctx context.Context) error {
	d.flagsListen, d.flagsAddr = containerFlags(ctx, d.cfg, d.httpAddr)
	d.px = newProxySupervisor(d.o.StateDir, proxyArgv(d.o, d.cfg, d.httpAddr, d.flagsListen), d.log)
	return d.px.ensure(ctx)
}

// startLogs opens the log store and starts ingesting, first of the rooms
// so their own records are kept from here on; tug's log goes there too.
func (d *daemon) startLogs(ctx context.Context) error {
	lg, err := openLogs(ctx, d.o, d.cfg, &d.rts)
	if err != nil {
		return err
	}
	lgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := lg.Run(lgCtx); err != nil && lgCtx.Err() == nil {
			d.log.Error("log ingestion stopped", "err", err)
		}
	}()
	log := d.log
	d.later(func() {
		stop()
		<-done
		if err := lg.Close(); err != nil {
			log.Warn("closing the log store", "err", err)
		}
	})
	d.logs = lg
	d.log = slog.New(logs.Handler(d.log.Handler(), lg))
	d.o.Logger = d.log
	return nil
}

func (d *daemon) openRuntimes(ctx context.Context) error {
	rts, err := newRuntimes(ctx, d.o, d.cfg, d.log)
	if err != nil {
		return err
	}
	d.runtimes = rts
	d.rts.Store(&rts)
	d.later(func() {
		for name, rt := range rts {
			if err := rt.Close(); err != nil {
				d.log.Warn("runtime close", "runtime", name, "err", err)
			}
		}
	})
	return nil
}

// openMonitoring opens the TSDB and builds the first alert engine.
func (d *daemon) openMonitoring(ctx context.Context) error {
	mon, err := startMonitoring(ctx, d.o, d.cfg, d.store, d.runtimes, d.px.client, d.o.Registry, &d.incidents.relay)
	if err != nil {
		return err
	}
	d.mon = mon
	d.later(func() {
		if err := mon.close(); err != nil {
			d.log.Warn("closing the metrics store", "err", err)
		}
	})
	return nil
}

// startDeploys builds the deploy manager, gives it the config, finishes
// or rolls back what the previous server left, and resumes approvals.
func (d *daemon) startDeploys(ctx context.Context) error {
	query := d.o.Query
	if query == nil {
		query = d.mon.mon.Query
	}
	mgr, err := deploy.New(deploy.Options{
		Store:    d.store,
		Runtimes: d.runtimes,
		Router:   d.px,
		RepoDir:  repoDir(filepath.Dir(d.o.ConfigPath)),
		StateDir: d.o.StateDir,
		Now:      d.o.Now,
		Logger:   d.log,
		Query:    query,
		Secrets:  d.secrets.sources,
		Images:   d.images,
		Flags:    d.flags,
		// The public status page's route leads to its own listener.
		ExtraRoutes: d.statusRoutes,
	})
	if err != nil {
		return err
	}
	d.mgr = mgr
	first := true
	d.src.onChange = func(c *config.Config) error {
		if err := d.secrets.setConfig(c); err != nil {
			return err
		}
		if first {
			mgr.SetConfig(c)
		} else if err := applyConfig(ctx, c, d.mon, d.logs, d.flags, mgr); err != nil {
			return err
		}
		first = false
		if d.o.OnConfig != nil {
			d.o.OnConfig(c)
		}
		return nil
	}
	if err := d.src.onChange(d.cfg); err != nil {
		return err
	}
	if err := mgr.Recover(ctx, logProgress(d.log)); err != nil {
		d.log.Error("recovering deploys and instances of the previous server", "err", err)
	}
	// Requests run under reqCtx: shutting down cancels in-flight deploys
	// (the manager leaves each service safe) instead of waiting for them;
	// a release waiting for approval keeps waiting for the next server.
	// Deploys and rollbacks run under it too, not under their request, so
	// a client that stops following leaves them running.
	d.reqCtx, d.stopReqs = context.WithCancelCause(context.WithoutCancel(ctx))
	d.later(func() { d.stopReqs(deploy.ErrServerStopping) })
	mgr.ResumeApprovals(d.reqCtx, logProgress(d.log))
	return nil
}

// listen builds the API and binds its unix socket (0600, the local
// admin's, each request named by its peer's uid) and, with ListenAddr,
// its TCP listener, which needs a token and is guarded against browsers
// and DNS rebinding.
func (d *daemon) listen(context.Context) error {
	h, err := api.NewHandler(api.Options{
		Deployer:  d.mgr,
		Life:      d.reqCtx,
		Config:    d.src,
		Metrics:   d.mon.mon.MetricsHandler(),
		Alerts:    d.mon.engineInForce,
		Logs:      d.logs,
		Monitor:   d.mon.mon,
		Tokens:    d.tokens,
		Audit:     d.audit,
		Now:       d.o.Now,
		Security:  d.securityInputs,
		Secrets:   d.secrets.svc,
		Flags:     d.flags,
		Runs:      d.runs,
		Hooks:     d.hooks,
		Incidents: d.incidents.manager,
		Backups:   d.backupManager,
		Health:    api.HealthResponse{PID: os.Getpid(), StateDir: d.o.StateDir, Version: d.o.Version},
		ProxyHTTP: d.httpAddr,
		Logger:    d.log,
	})
	if err != nil {
		return err
	}
	d.api = h
	dash, err := web.New(web.Options{API: h, Tokens: d.tokens, Life: d.reqCtx, Now: d.o.Now, Logger: d.log,
		LoginRefused: d.auditRefusedLogin})
	if err != nil {
		return err
	}
	sock := filepath.Join(d.o.StateDir, api.SocketName)
	if len(sock) > maxSocketPath {
		return fmt.Errorf("api socket %s: the path is longer than unix sockets allow (%d bytes); use a shorter --state-dir", sock, maxSocketPath)
	}
	_ = os.Remove(sock) // stale from a crash: the lock says no server owns it
	uln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	_ = os.Chmod(sock, 0o600)
	d.later(func() { os.Remove(sock) })
	d.serveOn(uln, withDashboard(h, dash.Socket()))
	d.servers[len(d.servers)-1].ConnContext = peerContext
	d.info = Info{Socket: sock, HTTPAddr: d.httpAddr, PID: os.Getpid()}
	if d.o.ListenAddr == "" {
		return nil
	}
	tln, err := net.Listen("tcp", d.o.ListenAddr)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", d.o.ListenAddr, err)
	}
	d.info.Listen, d.info.ListenTLS = tln.Addr().String(), d.o.ListenTLS != nil
	if tln, err = d.listenTLS(tln); err != nil {
		tln.Close()
		return err
	}
	d.warnListener(tln.Addr(), d.info.ListenTLS)
	ro := api.RemoteOptions{Addr: tln.Addr(), Hosts: d.o.AllowHosts, NoAuth: d.o.InsecureNoAuth}
	d.serveOn(tln, withDashboard(h.Remote(ro), dash.Remote(ro)))
	return nil
}

// withDashboard serves the API's paths (/api/, /metrics, /hooks/) with
// apiH and every other path with the dashboard.
func withDashboard(apiH, dash http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/api/") || p == "/api" || p == "/metrics" || strings.HasPrefix(p, "/hooks/") {
			apiH.ServeHTTP(w, r)
			return
		}
		dash.ServeHTTP(w, r)
	})
}

// serveOn prepares an HTTP server for ln; serve starts it.
func (d *daemon) serveOn(ln net.Listener, h http.Handler) {
	d.listeners = append(d.listeners, ln)
	d.servers = append(d.servers, &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return d.reqCtx },
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	})
	d.later(func() { ln.Close() })
}

// serve runs the API, the config watcher, the proxy's supervision and
// monitoring until ctx ends (or a listener fails), then shuts down: it
// cancels requests and deploys, stops the HTTP servers, joins every
// goroutine it started, and lets the deploy manager finish.
func (d *daemon) serve(ctx context.Context) error {
	bg, stopBG := context.WithCancel(ctx)
	defer stopBG()
	var wg sync.WaitGroup
	serveErr := make(chan error, len(d.servers))
	for i, srv := range d.servers {
		ln := d.listeners[i]
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	watchReady := make(chan struct{})
	wg.Go(func() {
		if err := watchConfig(bg, d.src, d.o.Debounce, watchReady); err != nil {
			d.log.Warn("config watch unavailable; use `tug apply` after editing", "err", err)
			close(watchReady)
		}
	})
	wg.Go(func() { d.px.supervise(bg) })
	wg.Go(func() { d.mon.run(bg) })
	wg.Go(func() { d.rescans().run(bg) })
	wg.Go(func() { d.secrets.run(bg) })
	wg.Go(func() { d.incidents.run(bg) })
	<-watchReady
	d.log.Info("tug server ready", "socket", d.info.Socket, "listen", d.info.Listen, "proxy", d.httpAddr, "pid", d.info.PID)
	if d.o.Ready != nil {
		d.o.Ready(d.info)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	d.log.Info("tug server stopping", "stop_services", d.o.StopServices)
	d.stopReqs(deploy.ErrServerStopping)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	httpCtx, cancelHTTP := context.WithTimeout(shutCtx, 5*time.Second)
	for _, srv := range d.servers {
		if err := srv.Shutdown(httpCtx); err != nil {
			srv.Close()
		}
	}
	cancelHTTP()
	stopBG()
	wg.Wait()
	if err := d.mgr.Shutdown(shutCtx, d.o.StopServices); err != nil {
		d.log.Error("deploy manager shutdown", "err", err)
		runErr = errors.Join(runErr, err)
	}
	if d.o.StopServices {
		if err := d.px.stop(10 * time.Second); err != nil {
			d.log.Error("stopping the proxy", "err", err)
		}
	}
	return runErr
}

// defaults validates and fills Options.
func defaults(o Options) (Options, error) {
	if o.ConfigPath == "" || o.StateDir == "" {
		return o, errors.New("server: ConfigPath and StateDir are required")
	}
	var err error
	if o.ConfigPath, err = filepath.Abs(o.ConfigPath); err != nil {
		return o, err
	}
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.Debounce <= 0 {
		o.Debounce = 300 * time.Millisecond
	}
	return o, nil
}

// proxyArgv is the command that starts the proxy for this state dir.
func proxyArgv(o Options, cfg *config.Config, httpAddr, flagsAddr string) []string {
	if len(o.ProxyCommand) == 0 {
		return nil
	}
	argv := append(append([]string(nil), o.ProxyCommand...), "--state-dir", o.StateDir, "--http", httpAddr)
	if flagsAddr != "" {
		argv = append(argv, "--flags", flagsAddr)
	}
	if p := cfg.Proxy; p != nil && p.HTTPS != "" && p.TLS != nil {
		argv = append(argv, "--https", p.HTTPS)
		argv = append(argv, proxyTLSArgs(filepath.Dir(o.ConfigPath), p.TLS)...)
	}
	if p := cfg.Proxy; p != nil && p.AccessLog != nil && !*p.AccessLog {
		argv = append(argv, "--access-log=false")
	}
	return argv
}

func absFrom(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// repoDir is the git work tree holding dir (releases are exported from
// it), or dir itself when it is not in one.
func repoDir(dir string) string {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}

// logProgress logs recovery progress.
func logProgress(log *slog.Logger) deploy.Progress {
	return func(e deploy.Event) {
		log.Info("recover", "release", e.Release, "phase", e.Phase, "msg", e.Message)
	}
}

var _ deploy.Router = (*proxy.Client)(nil)
