package proxy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits are the timeouts and bounds of client connections, written once
// and applied to every listener (plain and TLS) and every request.
type Limits struct {
	// MaxConns caps concurrent client connections. 0: half of what the
	// descriptor limit leaves after FDReserve (each client connection may
	// hold one to a backend).
	MaxConns int
	// FDReserve descriptors are never used by client connections: the
	// control socket, the socket handoff, health checks and the log files
	// keep working when clients exhaust the rest. Default 256.
	FDReserve int
	// IdleTimeout closes a kept-alive connection waiting for its next
	// request (default 2m); ReadHeaderTimeout bounds the reading of one
	// request head (default 30s). Both tighten under pressure (see
	// connGuard).
	IdleTimeout       time.Duration
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds the wait for each read of a request body
	// (default 30s): a body that stops arriving ends the request, and the
	// backend connection it held.
	BodyReadTimeout time.Duration
	// MaxHeaderBytes bounds one request head (default 64 KiB) and
	// MaxHeaderLines its lines (default 256); HeadBudget bounds the bytes
	// of all unfinished heads together (default 32 MiB).
	MaxHeaderBytes int
	MaxHeaderLines int
	HeadBudget     int64
}

func (l *Limits) defaults() {
	if l.FDReserve <= 0 {
		l.FDReserve = 256
	}
	if l.MaxConns <= 0 {
		l.MaxConns = connsForFDLimit(l.FDReserve)
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 2 * time.Minute
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = 30 * time.Second
	}
	if l.BodyReadTimeout <= 0 {
		l.BodyReadTimeout = 30 * time.Second
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	if l.MaxHeaderLines <= 0 {
		l.MaxHeaderLines = 256
	}
	if l.HeadBudget <= 0 {
		l.HeadBudget = 32 << 20
	}
}

// connsForFDLimit is the default connection cap: half of the descriptors
// left after the reserve (at most a quarter of the limit).
func connsForFDLimit(reserve int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 || rl.Cur > 1<<30 {
		return 1 << 14
	}
	n := int(rl.Cur)
	return max((n-min(reserve, n/4))/2, 1)
}

// newHTTPServer is the one http.Server configuration of client listeners.
// Request heads are parsed by net/http's server, whose framing rules
// (one Content-Length value, Transfer-Encoding exactly "chunked", CRLF on
// chunk lines, Host required and valid, connection closed after a body
// framing error) are the proxy's; checkRequest adds the rest.
func (s *Server) newHTTPServer(g *connGuard) *http.Server {
	return &http.Server{
		Handler:           http.HandlerFunc(s.serveCounted),
		ReadHeaderTimeout: s.opts.Limits.ReadHeaderTimeout,
		IdleTimeout:       s.opts.Limits.IdleTimeout,
		MaxHeaderBytes:    s.opts.Limits.MaxHeaderBytes,
		ErrorLog:          s.errLog,
		ConnState:         g.connState,
		// A plain connection rides in its requests' context for the fast
		// path's hang-up hook; a TLS one (*tls.Conn) does not.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if gc, ok := c.(*guardConn); ok {
				return context.WithValue(ctx, guardConnKey{}, gc)
			}
			return ctx
		},
	}
}

// connGuard admits client connections and bounds what they hold.
//
//   - At most max connections are open. Accepting one more first closes
//     the connection that has waited longest for a request (idle or with
//     an unfinished head); when every connection is busy with a request,
//     the new one is closed at once instead, so a client learns at once
//     rather than after a timeout, and descriptors stay for the reserve.
//   - Under pressure the idle and head timeouts tighten: above half the
//     cap a connection may wait 5s, above nine tenths 1s.
//   - A head may have maxLines lines, and all unfinished heads together
//     headBudget bytes; a connection past either is cut.
type connGuard struct {
	lim Limits
	log *rateLog
	now func() time.Time

	open      atomic.Int64
	headBytes atomic.Int64

	mu sync.Mutex
	// waiting lists connections without a request in progress, the
	// longest waiting first (intrusive list, so state changes allocate
	// nothing).
	first, last *guardConn
}

func newConnGuard(lim Limits, log *rateLog) *connGuard {
	return &connGuard{lim: lim, log: log, now: time.Now}
}

// Connection phases.
const (
	phaseWaiting int32 = iota // new or idle: reading (or waiting for) a head
	phaseActive               // a request is being served, or upgraded
	phaseGone                 // closed
)

// guardConn counts what a connection reads while its head is unfinished.
type guardConn struct {
	net.Conn
	g     *connGuard
	phase atomic.Int32
	since int64 // unix nanos the waiting began; guarded by g.mu

	prev, next *guardConn // in g's waiting list; guarded by g.mu
	listed     bool

	// tls: the bytes read are TLS records, whose lines mean nothing.
	tls  bool
	head atomic.Int64 // bytes of the current head counted in g.headBytes

	// The fast path's hang-up hook (watch): hup runs once when a read
	// fails while it is set.
	hmu    sync.Mutex
	hgone  bool // a read failed: the client is gone
	hup    func()
	hfired bool

	// Owned by the goroutine reading the connection.
	lines    int
	lastNL   bool // the last byte counted ended a line
	headDone bool // the blank line ending the head was seen
	cut      bool
}

var errHeadBudget = errors.New("proxy: request heads exceed their memory budget")
var errHeadLines = errors.New("proxy: request head has too many lines")

func (c *guardConn) Read(p []byte) (int, error) {
	if c.cut {
		return 0, errHeadBudget
	}
	n, err := c.Conn.Read(p)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// net/http's server takes the same failed read for a hang-up
		// (and cancels the request's context); a deadline is its own
		// doing (an aborted background read, a timeout between requests).
		c.hangUp()
	}
	if n > 0 && c.phase.Load() == phaseWaiting && !c.headDone {
		if e := c.countHead(p[:n]); e != nil {
			c.cut = true
			c.release()
			return 0, e
		}
	}
	return n, err
}

// watch arms f to run once if the client hangs up (at once if it has)
// before unwatch. One exchange at a time: the fast path's.
func (c *guardConn) watch(f func()) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.hup, c.hfired = f, c.hgone
	if c.hgone {
		f()
	}
}

// unwatch disarms the hook; false if it fired. Once it returns, the hook
// no longer runs.
func (c *guardConn) unwatch() bool {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	fired := c.hfired
	c.hup, c.hfired = nil, false
	return !fired
}

func (c *guardConn) hangUp() {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.hgone = true
	if c.hup != nil && !c.hfired {
		c.hfired = true
		c.hup()
	}
}

// guardConnKey is the context key of a plain client connection (see
// newHTTPServer's ConnContext).
type guardConnKey struct{}

// countHead accounts b, read while a head is unfinished.
func (c *guardConn) countHead(b []byte) error {
	// From one LF to the next: the bytes between matter only for
	// whether the line was blank (nothing but CR).
	for rest := b; !c.tls && len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(bytes.Trim(rest, "\r")) > 0 {
				c.lastNL = false
			}
			break
		}
		if len(bytes.Trim(rest[:i], "\r")) > 0 {
			c.lastNL = false
		}
		if c.lastNL {
			c.headDone = true // the blank line: what follows is body
			break
		}
		c.lastNL = true
		c.lines++
		rest = rest[i+1:]
	}
	if c.lines > c.g.lim.MaxHeaderLines {
		return errHeadLines
	}
	c.head.Add(int64(len(b)))
	if c.g.headBytes.Add(int64(len(b))) > c.g.lim.HeadBudget {
		c.g.log.warn("proxy: request heads over their memory budget; cutting a connection",
			"budget_bytes", c.g.lim.HeadBudget, "remote", c.RemoteAddr().String())
		return errHeadBudget
	}
	return nil
}

// release gives back what the current head counted.
func (c *guardConn) release() {
	if n := c.head.Swap(0); n != 0 {
		c.g.headBytes.Add(-n)
	}
}

func (c *guardConn) Close() error {
	c.g.gone(c)
	return c.Conn.Close()
}

// guardListener applies the guard to every accepted connection.
type guardListener struct {
	net.Listener
	g   *connGuard
	tls bool // connections carry TLS (the guard sees records, not lines)
}

func (l *guardListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				l.g.log.warn("proxy: out of file descriptors accepting a connection", "err", err, "open", l.g.open.Load())
			}
			return nil, err
		}
		if gc := l.g.admit(c, l.tls); gc != nil {
			return gc, nil
		}
	}
}

// admit registers c, making room at the cap; nil when c was refused.
func (g *connGuard) admit(c net.Conn, tls bool) *guardConn {
	if g.open.Load() >= int64(g.lim.MaxConns) {
		g.mu.Lock()
		victim := g.first
		if victim != nil {
			g.unlinkLocked(victim)
		}
		g.mu.Unlock()
		if victim == nil {
			g.log.warn("proxy: connection cap reached and every connection busy; refusing one", "max_conns", g.lim.MaxConns)
			c.Close()
			return nil
		}
		victim.Conn.Close() // its server goroutine sees the error and lets go
	}
	gc := &guardConn{Conn: c, g: g, tls: tls}
	g.open.Add(1)
	g.mu.Lock()
	gc.since = g.now().UnixNano()
	g.appendLocked(gc)
	g.mu.Unlock()
	return gc
}

// connState follows net/http's view of each connection.
func (g *connGuard) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*guardConn)
	if !ok {
		if tc, isTLS := nc.(interface{ NetConn() net.Conn }); isTLS {
			c, ok = tc.NetConn().(*guardConn)
		}
		if !ok {
			return
		}
	}
	switch st {
	case http.StateActive, http.StateHijacked:
		// A request is served, or the connection was upgraded (a
		// WebSocket still counts until it closes).
		c.phase.Store(phaseActive)
		c.release()
		g.mu.Lock()
		g.unlinkLocked(c)
		g.mu.Unlock()
	case http.StateIdle:
		c.lines, c.lastNL, c.headDone = 0, false, false
		c.phase.Store(phaseWaiting)
		g.mu.Lock()
		if c.phase.Load() == phaseWaiting {
			g.unlinkLocked(c)
			c.since = g.now().UnixNano()
			g.appendLocked(c)
		}
		g.mu.Unlock()
	case http.StateClosed:
		g.gone(c)
	}
}

// gone forgets c (closed); safe to call more than once.
func (g *connGuard) gone(c *guardConn) {
	if c.phase.Swap(phaseGone) == phaseGone {
		return
	}
	g.mu.Lock()
	g.unlinkLocked(c)
	g.mu.Unlock()
	g.open.Add(-1)
	c.release()
}

func (g *connGuard) appendLocked(c *guardConn) {
	if c.listed {
		return
	}
	c.listed = true
	c.prev, c.next = g.last, nil
	if g.last != nil {
		g.last.next = c
	} else {
		g.first = c
	}
	g.last = c
}

func (g *connGuard) unlinkLocked(c *guardConn) {
	if !c.listed {
		return
	}
	c.listed = false
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		g.first = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		g.last = c.prev
	}
	c.prev, c.next = nil, nil
}

// waitLimit is how long a connection may wait for (or in) a head now: no
// limit of the guard's own below half the cap (net/http's timeouts
// apply), 5s above it, 1s above nine tenths.
func (g *connGuard) waitLimit() time.Duration {
	open, cap := g.open.Load(), int64(g.lim.MaxConns)
	switch {
	case open*10 >= cap*9:
		return time.Second
	case open*2 >= cap:
		return 5 * time.Second
	}
	return 0
}

// reap closes connections that waited longer than waitLimit; run it
// every tick until stop closes.
func (g *connGuard) reap(stop <-chan struct{}, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		limit := g.waitLimit()
		if limit == 0 {
			continue
		}
		cutoff := g.now().Add(-limit).UnixNano()
		var victims []*guardConn
		g.mu.Lock()
		for c := g.first; c != nil && c.since < cutoff; c = g.first {
			g.unlinkLocked(c)
			victims = append(victims, c)
		}
		g.mu.Unlock()
		for _, c := range victims {
			c.Conn.Close()
		}
		if len(victims) > 0 {
			g.log.warn("proxy: under connection pressure; closed waiting connections",
				"closed", len(victims), "open", g.open.Load(), "max_conns", g.lim.MaxConns, "wait_limit", limit)
		}
	}
}

// rateLog logs a warning at most once per interval per message, counting
// the ones it held back.
type rateLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newRateLog(l *slog.Logger, interval time.Duration) *rateLog {
	return &rateLog{log: l, interval: interval, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
}

func (r *rateLog) warn(msg string, args ...any) {
	held, ok := r.allow(msg)
	if !ok {
		return
	}
	if held > 0 {
		args = append(args, "suppressed_since_last", held)
	}
	r.log.Warn(msg, args...)
}

// allow reports whether key may be logged now and how many were held
// back since it last was.
func (r *rateLog) allow(key string) (held int, ok bool) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.last[key]) < r.interval {
		r.held[key]++
		return 0, false
	}
	held = r.held[key]
	r.last[key], r.held[key] = now, 0
	return held, true
}

// Write makes rateLog the sink of net/http's error log: each line is one
// message, rate limited by its first 40 bytes (the text before the
// varying address).
func (r *rateLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	key := msg
	if len(key) > 40 {
		key = key[:40]
	}
	if held, ok := r.allow(key); ok {
		if held > 0 {
			r.log.Warn(msg, "suppressed_since_last", held)
		} else {
			r.log.Warn(msg)
		}
	}
	return len(p), nil
}
