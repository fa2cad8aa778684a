package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// upstream is the proxy's HTTP/1.1 client for plain requests without a
// body (the bulk of traffic): the handler's goroutine writes the request
// and reads the answer on a pooled keep-alive connection itself. That
// avoids net/http.Transport's two goroutines per connection and the
// channel handoffs between them and the handler, which under CPU
// contention doubled the proxy's latency. Requests with a body and
// upgrades (WebSocket) go to the standard Transport, which handles
// 100-continue and hijacking.
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
	// stop ends the current exchange's cancellation hook; false if the
	// hook already fired (the connection has a past deadline: not reusable).
	stop func() bool
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

// RoundTrip implements http.RoundTripper.
func (u *upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody || req.Header.Get("Upgrade") != "" || req.URL.Scheme != "http" {
		return u.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		resp, err := u.exchange(ctx, uc, req)
		if err == nil {
			return resp, nil
		}
		uc.c.Close()
		// A kept-alive connection the backend closed meanwhile fails
		// before any answer; the request has no body, so a fresh
		// connection may send it again (as net/http.Transport does).
		if reused && attempt == 0 && ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || connError(err)) {
			continue
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
}

func (u *upstream) exchange(ctx context.Context, uc *upConn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { uc.c.SetDeadline(time.Unix(1, 0)) })
	if err := req.Write(uc.bw); err != nil {
		stop()
		return nil, err
	}
	if err := uc.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(uc.br, req)
		if err != nil {
			stop()
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // 1xx informational (103 Early Hints): the answer follows
		}
		resp.Body = &upBody{u: u, uc: uc, rc: resp.Body, keep: !resp.Close && !req.Close, stop: stop}
		return resp, nil
	}
}

// get returns an idle connection to addr (reused=true) or dials one.
func (u *upstream) get(ctx context.Context, addr string) (*upConn, bool, error) {
	now := time.Now()
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
	return &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096), addr: addr}, false, nil
}

// put returns a connection whose answer was read to the end.
func (u *upstream) put(uc *upConn) {
	uc.lastUsed = time.Now()
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

// upBody gives the connection back to the pool once the body was read to
// its end, and closes it if the reader gives up early.
type upBody struct {
	u    *upstream
	uc   *upConn
	rc   io.ReadCloser
	keep bool
	stop func() bool
	done bool
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

func (b *upBody) Close() error {
	if b.done {
		return nil
	}
	b.finish(false)
	return nil
}

func (b *upBody) finish(complete bool) {
	b.done = true
	stopped := b.stop()
	if complete && b.keep && stopped && b.uc.br.Buffered() == 0 {
		b.u.put(b.uc)
		return
	}
	b.uc.c.Close()
	b.rc.Close() // after the close: never drains a long stream
}
