package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// Options configure a Server. Only StateDir is required; listeners may be
// passed in (tests) or given as addresses.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for ejection cooldowns and request timing.
	Now func() time.Time
	// StateDir holds proxy.sock, proxy-handoff.sock and proxy/ (table.json,
	// access/, proxy.pid).
	StateDir string

	// HTTPAddr is where plain HTTP is served ("" = none) unless
	// HTTPListener is given or a running proxy hands its socket over.
	HTTPAddr     string
	HTTPListener net.Listener
	// HTTPSAddr/HTTPSListener serve TLS (1.2 and later) with the cert and
	// key files, the local CA's certificates (LocalCA) or ACME's (ACME);
	// exactly one (see certs.go).
	HTTPSAddr     string
	HTTPSListener net.Listener
	TLSCertFile   string
	TLSKeyFile    string
	LocalCA       bool
	ACME          *ACMEOptions
	// FlagsAddr/FlagsListener serve OFREP alone (FlagsPathPrefix; any
	// other path is 404), for clients that cannot reach the HTTP
	// listener: containers on a Docker bridge reach the host at the
	// bridge's gateway address, not at its loopback. "" = none.
	FlagsAddr     string
	FlagsListener net.Listener
	// ControlListener overrides the control socket <StateDir>/proxy.sock.
	ControlListener net.Listener

	// NoAccessLog turns the JSON access log off.
	NoAccessLog bool
	// AccessLogMaxBytes starts a new access-log segment past this size
	// (default 100 MiB; a new one also starts every hour). AccessLogKeep,
	// when positive, keeps only that many segments; by default all are
	// kept and the server deletes them past the logs' retention.
	AccessLogMaxBytes int64
	AccessLogKeep     int

	// EjectAfter consecutive connection errors eject a backend for
	// EjectCooldown (defaults 3 and 10s).
	EjectAfter    int
	EjectCooldown time.Duration
	// ShutdownTimeout bounds how long in-flight requests may run after the
	// proxy stops accepting (stop or handoff). Default 30s.
	ShutdownTimeout time.Duration
	// NoHandoff: neither take the sockets of a running proxy nor offer ours.
	NoHandoff bool

	// Limits bound client connections and requests (zero fields: defaults).
	Limits Limits
	// RateLimitClients bounds how many clients' buckets each rate limit
	// keeps (default DefaultRateLimitClients).
	RateLimitClients int
}

// Paths inside the state directory.
const (
	ControlSocketName = "proxy.sock"
	HandoffSocketName = "proxy-handoff.sock"
	DataDirName       = "proxy"
	PIDFileName       = "proxy.pid"
)

// ControlSocketPath is where the proxy of stateDir serves its control API.
func ControlSocketPath(stateDir string) string { return filepath.Join(stateDir, ControlSocketName) }

// ErrAlreadyRunning: another proxy serves this state directory and would
// not hand its sockets over.
var ErrAlreadyRunning = errors.New("a proxy is already running for this state directory")

// Server is the reverse proxy. Create with New, run with Run.
type Server struct {
	opts    Options
	log     *slog.Logger
	now     func() time.Time
	dataDir string

	routing atomic.Pointer[routing]
	applyMu sync.Mutex // serialises Apply (and its persistence)
	bmu     sync.Mutex // guards backends
	// backends: every backend in the table plus draining ones, by key.
	backends map[string]*backend

	metrics      *metrics
	access       *accessLog
	ids          *idSource
	rp           *httputil.ReverseProxy
	buffers      *bufferPool
	upstream     *upstream
	healthClient *http.Client
	statePool    sync.Pool
	rwPool       sync.Pool
	warn         *rateLog    // serve, accept and guard warnings, rate limited
	errLog       *log.Logger // net/http's error log, through warn
	guard        *connGuard
	active       atomic.Int64        // requests being served, for shutdown
	limiters     map[string]*limiter // rate limits by service, environment and setting; under applyMu
	httpsPort    string              // ":PORT" for redirects, "" for 443
	certs        *Certs              // the https listener's; set in Run before any table is applied

	baseCtx   context.Context // lives as long as Run; probes hang off it
	ready     chan struct{}
	handedOff chan struct{}
	handOnce  sync.Once

	// Set during Run before ready closes.
	httpLn, httpsLn, flagsLn, controlLn net.Listener
	controlSrv                          *http.Server
}

// New checks opts and builds a Server; nothing listens until Run.
func New(opts Options) (*Server, error) {
	if opts.StateDir == "" {
		return nil, errors.New("proxy: StateDir is required")
	}
	if opts.HTTPSAddr != "" || opts.HTTPSListener != nil {
		o := TLSOptions{CertFile: opts.TLSCertFile, KeyFile: opts.TLSKeyFile, LocalCA: opts.LocalCA, ACME: opts.ACME}
		if err := o.Check(); err != nil {
			return nil, fmt.Errorf("proxy: the https listener: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AccessLogMaxBytes == 0 {
		opts.AccessLogMaxBytes = 100 << 20
	}
	if opts.EjectAfter <= 0 {
		opts.EjectAfter = 3
	}
	if opts.EjectCooldown <= 0 {
		opts.EjectCooldown = 10 * time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	opts.Limits.defaults()
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
		dataDir:   filepath.Join(opts.StateDir, DataDirName),
		backends:  map[string]*backend{},
		metrics:   newMetrics(),
		ids:       newIDSource(),
		ready:     make(chan struct{}),
		handedOff: make(chan struct{}),
		baseCtx:   context.Background(),
	}
	s.warn = newRateLog(opts.Logger, 10*time.Second)
	s.errLog = log.New(s.warn, "", 0)
	s.guard = newConnGuard(opts.Limits, s.warn)
	s.statePool.New = func() any { return new(reqState) }
	s.rwPool.New = func() any { return new(responseWriter) }
	s.buffers = newBufferPool()
	s.upstream = newUpstream(newUpstreamTransport())
	s.rp = s.newReverseProxy(&retryTransport{s: s, base: s.upstream.fallback})
	s.healthClient = &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	s.routing.Store(compile(&Table{}, nil, nil))
	return s, nil
}

// Apply validates, installs and persists t. ErrStale when t is older than
// the current table; ErrInvalidTable naming the bad place when invalid.
func (s *Server) Apply(t *Table) error {
	if err := Validate(t); err != nil {
		return err
	}
	if err := s.apply(t, false); err != nil {
		return err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	// Persist whatever is current now: a newer concurrent push wins.
	if err := saveTable(s.dataDir, s.routing.Load().table); err != nil {
		return fmt.Errorf("proxy: persist table: %w", err)
	}
	return nil
}

// Ready is closed once the proxy serves (listeners bound, table loaded).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// HTTPAddr is the address of the plain HTTP listener (nil if none);
// valid after Ready.
func (s *Server) HTTPAddr() net.Addr { return lnAddr(s.httpLn) }

// FlagsAddr is the address of the OFREP-only listener (nil if none).
func (s *Server) FlagsAddr() net.Addr { return lnAddr(s.flagsLn) }

// HTTPSAddr is the address of the TLS listener (nil if none).
func (s *Server) HTTPSAddr() net.Addr { return lnAddr(s.httpsLn) }

func lnAddr(l net.Listener) net.Addr {
	if l == nil {
		return nil
	}
	return l.Addr()
}

// Run serves until ctx ends or a newer proxy takes the sockets over, then
// stops accepting, lets in-flight requests finish (up to ShutdownTimeout)
// and returns. A running proxy for the same state directory hands its
// sockets to this one instead of refusing connections.
func (s *Server) Run(ctx context.Context) error {
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	s.baseCtx = baseCtx
	if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}

	var inherited map[string]net.Listener
	var hconn *net.UnixConn
	if !s.opts.NoHandoff {
		var err error
		inherited, hconn, err = s.takeOver(ctx)
		if err != nil {
			return err
		}
	}
	if hconn != nil {
		defer hconn.Close()
	}
	closeAll := func() {
		for _, l := range inherited {
			l.Close()
		}
	}
	if err := s.bindListeners(inherited); err != nil {
		closeAll()
		return err
	}
	s.httpsPort = httpsPortSuffix(s.httpsLn)
	if s.httpsLn != nil {
		if err := s.openCerts(); err != nil {
			closeAll()
			return err
		}
		defer s.certs.Stop()
	}

	t, fellBack, err := loadTable(s.dataDir)
	switch {
	case fellBack:
		s.log.Error("proxy: persisted table damaged; serving the previous one until the server pushes a current one",
			"err", err, "version", t.Version)
	case err != nil:
		s.log.Error("proxy: persisted table damaged and no previous one; serving no routes until the server pushes a table", "err", err)
	}
	if t != nil {
		if err := s.apply(t, true); err != nil {
			s.log.Warn("proxy: persisted table refused", "err", err)
		}
	}
	if !s.opts.NoAccessLog {
		al, err := openAccessLog(filepath.Join(s.dataDir, AccessDirName), s.opts.AccessLogMaxBytes, s.opts.AccessLogKeep, s.now)
		if err != nil {
			closeAll()
			return err
		}
		s.access = al
		go al.run(baseCtx, time.Second)
	}

	if s.certs != nil {
		if err := s.startACME(baseCtx); err != nil {
			closeAll()
			return err
		}
	}
	servers := s.startServers()

	var hln *net.UnixListener
	if !s.opts.NoHandoff {
		if hconn != nil {
			if err := s.finishTakeOver(hconn); err != nil {
				s.log.Warn("proxy: handoff did not complete cleanly", "err", err)
			}
		}
		if hln, err = listenUnix(filepath.Join(s.opts.StateDir, HandoffSocketName)); err != nil {
			s.log.Warn("proxy: no handoff socket; upgrades will refuse connections", "err", err)
		} else {
			go s.serveHandoff(hln)
		}
	}
	pidPath := filepath.Join(s.dataDir, PIDFileName)
	if err := kit.WriteFile(pidPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		s.log.Warn("proxy: pid file", "err", err)
	}
	s.log.Info("proxy serving", "http", s.HTTPAddr(), "https", s.HTTPSAddr(), "table_version", s.routing.Load().table.Version)
	close(s.ready)

	handedOff := false
	select {
	case <-ctx.Done():
	case <-s.handedOff:
		handedOff = true
	}
	if hln != nil && !handedOff {
		hln.Close()
		os.Remove(filepath.Join(s.opts.StateDir, HandoffSocketName))
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(shutCtx); err != nil {
				srv.Close()
			}
		}()
	}
	wg.Wait()
	// Hijacked connections (WebSockets) are not tracked by Shutdown.
	for s.active.Load() > 0 && shutCtx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	if !handedOff {
		if s.opts.ControlListener == nil {
			os.Remove(ControlSocketPath(s.opts.StateDir))
		}
		if b, err := os.ReadFile(pidPath); err == nil && string(b) == strconv.Itoa(os.Getpid())+"\n" {
			os.Remove(pidPath)
		}
	}
	cancelBase()
	s.bmu.Lock()
	for _, b := range s.backends {
		stopHealth(b)
	}
	s.bmu.Unlock()
	s.upstream.CloseIdleConnections()
	if s.access != nil {
		if err := s.access.close(); err != nil {
			s.log.Warn("proxy: access log", "err", err)
		}
	}
	s.log.Info("proxy stopped", "handed_off", handedOff)
	return nil
}

// bindListeners takes inherited sockets by name, then the ones passed in
// Options, then binds addresses.
func (s *Server) bindListeners(inherited map[string]net.Listener) error {
	var err error
	pick := func(name string, given net.Listener, addr string) (net.Listener, error) {
		if l := inherited[name]; l != nil {
			if given == nil && sameAddr(addr, l.Addr()) {
				return l, nil
			}
			// The new configuration moved or dropped this listener: the
			// old address stops being served once the old proxy exits.
			s.log.Info("proxy: not reusing the running proxy's socket", "name", name, "was", l.Addr(), "now", addr)
			l.Close()
		}
		if given != nil {
			return given, nil
		}
		if addr == "" {
			return nil, nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("proxy: listen %s: %w", addr, err)
		}
		return l, nil
	}
	if s.httpLn, err = pick("http", s.opts.HTTPListener, s.opts.HTTPAddr); err != nil {
		return err
	}
	if s.httpsLn, err = pick("https", s.opts.HTTPSListener, s.opts.HTTPSAddr); err != nil {
		return err
	}
	if s.flagsLn, err = pick("flags", s.opts.FlagsListener, s.opts.FlagsAddr); err != nil {
		return err
	}
	if s.httpLn == nil && s.httpsLn == nil {
		return errors.New("proxy: nothing to listen on (give --http or --https)")
	}
	if l := inherited["control"]; l != nil {
		s.controlLn = l
	} else if s.opts.ControlListener != nil {
		s.controlLn = s.opts.ControlListener
	} else {
		p := ControlSocketPath(s.opts.StateDir)
		if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
			c.Close()
			return fmt.Errorf("%w (%s answers)", ErrAlreadyRunning, p)
		}
		l, err := listenUnix(p)
		if err != nil {
			return fmt.Errorf("proxy: control socket: %w", err)
		}
		s.controlLn = l
	}
	return nil
}

// listenUnix binds a unix socket at p, replacing a stale file, and keeps
// the file when the listener closes: after a handoff the path belongs to
// the new proxy, which serves the same socket.
func listenUnix(p string) (*net.UnixListener, error) {
	os.Remove(p)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	return l, nil
}

// stoppable is what Run needs of a server to stop it.
type stoppable interface {
	Shutdown(ctx context.Context) error
	Close() error
}

func (s *Server) startServers() []stoppable {
	var servers []stoppable
	serve := func(name string, run func() error) {
		go func() {
			if err := run(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("proxy: listener stopped serving", "listener", name, "err", err)
			}
		}()
	}
	if s.httpLn != nil {
		srv := s.newHTTPServer(s.guard)
		if s.certs != nil {
			srv.Handler = s.certs.HTTPChallenge(srv.Handler)
		}
		servers = append(servers, srv)
		ln := &guardListener{Listener: s.httpLn, g: s.guard}
		serve("http", func() error { return srv.Serve(ln) })
	}
	if s.httpsLn != nil {
		srv := s.newHTTPServer(s.guard)
		srv.TLSConfig = s.certs.TLSConfig()
		servers = append(servers, srv)
		ln := &guardListener{Listener: s.httpsLn, g: s.guard, tls: true}
		serve("https", func() error { return srv.ServeTLS(ln, "", "") })
	}
	if s.flagsLn != nil {
		srv := s.newHTTPServer(s.guard)
		srv.Handler = http.HandlerFunc(s.serveFlagsOnly)
		servers = append(servers, srv)
		ln := &guardListener{Listener: s.flagsLn, g: s.guard}
		serve("flags", func() error { return srv.Serve(ln) })
	}
	go s.guard.reap(s.baseCtx.Done(), 250*time.Millisecond)
	s.controlSrv = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: s.errLog}
	servers = append(servers, s.controlSrv)
	serve("control", func() error { return s.controlSrv.Serve(s.controlLn) })
	return servers
}

// serveCounted counts requests being served so shutdown can wait for
// hijacked (WebSocket) ones too.
func (s *Server) serveCounted(w http.ResponseWriter, r *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)
	s.ServeHTTP(w, r)
}

// sameAddr: the address asked for (host:port, port 0 = any) is the one
// an inherited listener has.
func sameAddr(want string, have net.Addr) bool {
	if want == "" {
		return false
	}
	w, err := net.ResolveTCPAddr("tcp", want)
	h, ok := have.(*net.TCPAddr)
	if err != nil || !ok {
		return false
	}
	if w.Port != 0 && w.Port != h.Port {
		return false
	}
	return w.IP == nil || w.IP.IsUnspecified() || w.IP.Equal(h.IP)
}
