package proxy

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstream is the keep-alive pool of the fast path (fastpath.go): the
// handler's goroutine writes the request and reads the answer on a pooled
// connection itself. That avoids net/http.Transport's two goroutines per
// connection and the channel handoffs between them and the handler, which
// under CPU contention doubled the proxy's latency. Requests with a body
// and upgrades (WebSocket) use the standard Transport (fallback), which
// handles 100-continue and hijacking.
type upstream struct {
	fallback    http.RoundTripper
	dialer      net.Dialer
	maxIdle     int // per backend address
	idleTimeout time.Duration

	mu   sync.Mutex
	idle map[string][]*upConn
}

// upConn is one keep-alive connection to a backend.
type upConn struct {
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	addr     string
	lastUsed time.Time
	// expire unblocks the current exchange with a past deadline when the
	// client hangs up. Made once per connection: arming it allocates
	// nothing (see watch).
	expire func()
	// The current exchange's hang-up hook: on the client's plain
	// connection (gc), or context.AfterFunc's (afStop).
	gc     *guardConn
	afStop func() bool
}

// watch arms the hang-up hook for one exchange: on gc, the client's plain
// connection, whose failed read is the hang-up net/http's server sees too
// (it then cancels the request's context); without one (TLS, where the
// hang-up may be a close_notify record rather than a failed read),
// through context.AfterFunc on the request's context.
func (uc *upConn) watch(ctx context.Context, gc *guardConn) {
	if gc != nil {
		uc.gc = gc
		gc.watch(uc.expire)
		return
	}
	uc.afStop = context.AfterFunc(ctx, uc.expire)
}

// unwatch disarms the hook; false if it fired (the client hung up and
// the connection has a past deadline: not reusable).
func (uc *upConn) unwatch() bool {
	if gc := uc.gc; gc != nil {
		uc.gc = nil
		return gc.unwatch()
	}
	stop := uc.afStop
	uc.afStop = nil
	return stop == nil || stop()
}

func newUpstream(fallback http.RoundTripper) *upstream {
	return &upstream{
		fallback:    fallback,
		dialer:      net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle:     512,
		idleTimeout: 90 * time.Second,
		idle:        map[string][]*upConn{},
	}
}

// get returns an idle connection to addr (reused=true) or dials one;
// now is the caller's clock (the request's start), against which a
// connection's idle time counts.
func (u *upstream) get(ctx context.Context, addr string, now time.Time) (*upConn, bool, error) {
	u.mu.Lock()
	for {
		list := u.idle[addr]
		if len(list) == 0 {
			break
		}
		uc := list[len(list)-1]
		list[len(list)-1] = nil
		u.idle[addr] = list[:len(list)-1]
		if now.Sub(uc.lastUsed) < u.idleTimeout {
			u.mu.Unlock()
			return uc, true, nil
		}
		uc.c.Close()
	}
	u.mu.Unlock()
	c, err := u.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	uc := &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096), addr: addr}
	uc.expire = func() { c.SetDeadline(time.Unix(1, 0)) }
	return uc, false, nil
}

// put returns a connection whose answer was read to the end; its idle
// time counts from now, the start of the request it served (earlier than
// its end: the pool errs toward a fresh connection, and reads no clock).
func (u *upstream) put(uc *upConn, now time.Time) {
	uc.lastUsed = now
	u.mu.Lock()
	if len(u.idle[uc.addr]) < u.maxIdle {
		u.idle[uc.addr] = append(u.idle[uc.addr], uc)
		u.mu.Unlock()
		return
	}
	u.mu.Unlock()
	uc.c.Close()
}

// dropAddr closes the idle connections to addr (a backend that left).
func (u *upstream) dropAddr(addr string) {
	u.mu.Lock()
	list := u.idle[addr]
	delete(u.idle, addr)
	u.mu.Unlock()
	for _, uc := range list {
		uc.c.Close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (u *upstream) CloseIdleConnections() {
	u.mu.Lock()
	all := u.idle
	u.idle = map[string][]*upConn{}
	u.mu.Unlock()
	for _, list := range all {
		for _, uc := range list {
			uc.c.Close()
		}
	}
	if ci, ok := u.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
