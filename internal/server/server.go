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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
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
	// ListenAddr, when set, also serves the API on TCP ("127.0.0.1:7070").
	ListenAddr string
	// StopServices stops every instance and the proxy when Run returns;
	// otherwise they keep running for the next server to adopt.
	StopServices bool
	// ProxyCommand is the argv that starts `tug proxy` (flags are added).
	ProxyCommand []string
	// SecretsInit is a static tug binary; given, Docker services get their
	// secrets through a file its `secret-env` command reads, not through
	// their container's configuration (see runtime.DockerOptions).
	SecretsInit string
	// Mount adds other rooms' HTTP APIs under path prefixes ("/api/v1/").
	Mount map[string]http.Handler
	// OnConfig is called with every config that takes effect, the first
	// one included, serialized.
	OnConfig func(*config.Config)
	// Query evaluates PromQL for canary analysis queries (the metrics
	// room provides it); nil makes such analyses fail with a clear error.
	Query func(ctx context.Context, expr string) (float64, error)
	// Secrets resolves secret names for services; nil resolves them from
	// the environment and the repository's .tug/secrets.env.
	Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)
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
	// Listen is the TCP API address actually bound ("" without --listen).
	Listen string
	// HTTPAddr is the proxy's listener as requested.
	HTTPAddr string
	PID      int
}

// Run serves until ctx ends, then shuts down as Options say. It returns
// ErrRunning when another server holds the state directory, and config
// errors (matching config.ErrInvalid) when tug.yaml is invalid at start.
func Run(ctx context.Context, opts Options) error {
	o, err := defaults(opts)
	if err != nil {
		return err
	}
	log := o.Logger
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	lock, err := acquireLock(o.StateDir)
	if err != nil {
		return err
	}
	defer lock.release()

	reg := o.Registry
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tug_server_config_reloads_total",
		Help: "Config reloads by result: applied, unchanged, invalid (refused), error.",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{
		reloads,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tug_server_up", Help: "1 while the tug server runs."}, func() float64 { return 1 }),
	} {
		// A registry shared with other rooms may hold the Go and process
		// collectors already; that is fine.
		err := reg.Register(c)
		var are prometheus.AlreadyRegisteredError
		switch {
		case errors.As(err, &are):
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok && c == reloads {
				reloads = existing
			}
		case err != nil:
			return fmt.Errorf("server metrics: %w", err)
		}
	}
	src := &configSource{
		path: o.ConfigPath, lookupEnv: o.LookupEnv, now: o.Now, log: log,
		counted: func(r string) { reloads.WithLabelValues(r).Inc() },
	}
	if err := src.init(); err != nil {
		return err
	}
	cfg := src.Current().Config
	httpAddr := o.HTTPAddr
	if httpAddr == "" && cfg.Proxy != nil && cfg.Proxy.HTTP != "" {
		httpAddr = cfg.Proxy.HTTP
	}
	if httpAddr == "" {
		httpAddr = DefaultHTTPAddr
	}

	st, err := store.Open(ctx, o.StateDir, store.Options{Now: o.Now, Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()

	px := newProxySupervisor(o.StateDir, proxyArgv(o, cfg, httpAddr), log)
	if err := px.ensure(ctx); err != nil {
		return err
	}
	// Logs first, so the rooms' own records are kept from here on.
	var rts atomic.Pointer[map[string]runtime.Runtime]
	lg, err := openLogs(ctx, o, cfg, &rts)
	if err != nil {
		return err
	}
	lgCtx, stopLogs := context.WithCancel(context.WithoutCancel(ctx))
	lgDone := make(chan struct{})
	go func() {
		defer close(lgDone)
		if err := lg.Run(lgCtx); err != nil && lgCtx.Err() == nil {
			log.Error("log ingestion stopped", "err", err)
		}
	}()
	defer func() {
		stopLogs()
		<-lgDone
		if err := lg.Close(); err != nil {
			log.Warn("closing the log store", "err", err)
		}
	}()
	log = slog.New(logs.Handler(log.Handler(), lg))
	o.Logger = log
	runtimes, err := newRuntimes(ctx, o, cfg, log)
	if err != nil {
		return err
	}
	rts.Store(&runtimes)
	defer func() {
		for name, rt := range runtimes {
			if err := rt.Close(); err != nil {
				log.Warn("runtime close", "runtime", name, "err", err)
			}
		}
	}()
	mon, err := startMonitoring(ctx, o, cfg, st, runtimes, px.client, reg)
	if err != nil {
		return err
	}
	defer func() {
		if err := mon.close(); err != nil {
			log.Warn("closing the metrics store", "err", err)
		}
	}()
	query := o.Query
	if query == nil {
		query = mon.mon.Query
	}
	mgr, err := deploy.New(deploy.Options{
		Store:    st,
		Runtimes: runtimes,
		Router:   px.client,
		RepoDir:  repoDir(filepath.Dir(o.ConfigPath)),
		StateDir: o.StateDir,
		Now:      o.Now,
		Logger:   log,
		Query:    query,
		Secrets:  o.Secrets,
	})
	if err != nil {
		return err
	}
	first := true
	src.onChange = func(c *config.Config) {
		mgr.SetConfig(c)
		if !first {
			mon.setConfig(ctx, c)
		}
		first = false
		if o.OnConfig != nil {
			o.OnConfig(c)
		}
	}
	src.onChange(cfg)
	if err := mgr.Recover(ctx, logProgress(log)); err != nil {
		log.Error("recovering deploys and instances of the previous server", "err", err)
	}

	// Requests run under reqCtx: shutting down cancels in-flight deploys
	// (the manager leaves each service safe) instead of waiting for them;
	// a release waiting for approval keeps waiting for the next server.
	// Deploys and rollbacks run under it too, not under their request, so
	// a client that stops following leaves them running.
	reqCtx, cancelRequests := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRequests(deploy.ErrServerStopping)
	mgr.ResumeApprovals(reqCtx, logProgress(log))

	handler := api.NewHandler(api.Options{
		Deployer: mgr,
		Life:     reqCtx,
		Config:   src,
		Metrics:  &metricsHandler{proxy: px.client, reg: reg, log: log},
		Mount: mergeMounts(mergeMounts(mon.mounts(), map[string]http.Handler{"/api/logs": documented{lg.Handler(), map[string]string{
			"GET /api/logs": "search (or with follow=1, stream) logs of a service, the proxy (proxy) or tug (tug)",
		}}}), o.Mount),
		Health:    api.HealthResponse{PID: os.Getpid(), StateDir: o.StateDir, Version: o.Version},
		ProxyHTTP: httpAddr,
		Logger:    log,
	})
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	sock := filepath.Join(o.StateDir, api.SocketName)
	_ = os.Remove(sock) // stale from a crash: the lock says no server owns it
	listeners := []net.Listener{}
	if len(sock) > maxSocketPath {
		return fmt.Errorf("api socket %s: the path is longer than unix sockets allow (%d bytes); use a shorter --state-dir", sock, maxSocketPath)
	}
	uln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("api socket: %w", err)
	}
	_ = os.Chmod(sock, 0o600)
	listeners = append(listeners, uln)
	info := Info{Socket: sock, HTTPAddr: httpAddr, PID: os.Getpid()}
	if o.ListenAddr != "" {
		tln, err := net.Listen("tcp", o.ListenAddr)
		if err != nil {
			uln.Close()
			return fmt.Errorf("--listen %s: %w", o.ListenAddr, err)
		}
		listeners = append(listeners, tln)
		info.Listen = tln.Addr().String()
		if ta, ok := tln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			log.Warn("the API on --listen has no authentication: anyone who reaches it can deploy; prefer a loopback address", "addr", info.Listen)
		}
	}
	defer os.Remove(sock)

	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	serveErr := make(chan error, len(listeners))
	for _, ln := range listeners {
		wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		})
	}
	watchReady := make(chan struct{})
	wg.Go(func() {
		if err := watchConfig(bg, src, o.Debounce, watchReady); err != nil {
			log.Warn("config watch unavailable; use `tug apply` after editing", "err", err)
			close(watchReady)
		}
	})
	wg.Go(func() { px.supervise(bg) })
	wg.Go(func() { mon.run(bg) })
	wg.Go(func() {
		newRescanner(st, func() *config.Config { return src.Current().Config }, o.StateDir, reg, o.LookupEnv, log).run(bg)
	})
	<-watchReady
	log.Info("tug server ready", "socket", sock, "listen", info.Listen, "proxy", httpAddr, "pid", info.PID)
	if o.Ready != nil {
		o.Ready(info)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	log.Info("tug server stopping", "stop_services", o.StopServices)
	cancelRequests(deploy.ErrServerStopping)
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	httpCtx, cancelHTTP := context.WithTimeout(shutCtx, 5*time.Second)
	if err := srv.Shutdown(httpCtx); err != nil {
		srv.Close()
	}
	cancelHTTP()
	stopBG()
	wg.Wait()
	if err := mgr.Shutdown(shutCtx, o.StopServices); err != nil {
		log.Error("deploy manager shutdown", "err", err)
		runErr = errors.Join(runErr, err)
	}
	if o.StopServices {
		if err := px.stop(10 * time.Second); err != nil {
			log.Error("stopping the proxy", "err", err)
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
	if o.Secrets == nil {
		dir, lookup, log := filepath.Dir(o.ConfigPath), o.LookupEnv, o.Logger
		o.Secrets = func(_ context.Context, names []string) (map[string]secret.Value, error) {
			vals, warnings, err := secret.Resolve(names, dir, lookup)
			for _, w := range warnings {
				log.Warn(w)
			}
			return vals, err
		}
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
func proxyArgv(o Options, cfg *config.Config, httpAddr string) []string {
	if len(o.ProxyCommand) == 0 {
		return nil
	}
	argv := append(append([]string(nil), o.ProxyCommand...), "--state-dir", o.StateDir, "--http", httpAddr)
	if p := cfg.Proxy; p != nil && p.HTTPS != "" && p.TLS != nil {
		base := filepath.Dir(o.ConfigPath)
		argv = append(argv, "--https", p.HTTPS, "--tls-cert", absFrom(base, p.TLS.Cert), "--tls-key", absFrom(base, p.TLS.Key))
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

// mergeMounts adds over to base; over wins on the same prefix.
func mergeMounts(base, over map[string]http.Handler) map[string]http.Handler {
	out := make(map[string]http.Handler, len(base)+len(over))
	for p, h := range base {
		out[p] = h
	}
	for p, h := range over {
		out[p] = h
	}
	return out
}
