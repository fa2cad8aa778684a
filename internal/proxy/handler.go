package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"
)

// reqState travels with one proxied request (in its context) from the
// handler through Rewrite, the retrying transport and ModifyResponse.
type reqState struct {
	routing   *routing // the table route came from
	route     *route
	backend   *backend
	requestID string
	ridv      []string // []string{requestID}, shared by the headers that carry it
	stickyHit bool     // the client's sticky cookie already names backend
	tried     [maxAttempts]*backend
	attempts  int
	transport bool // the request failed to reach any backend
	upgraded  bool // the backend switched protocols (WebSocket)
	tls       bool // the client came over TLS (set when the route has an edge policy)
	tooLarge  bool // the body grew past the route's max_body
}

type stateKey struct{}

// ServeHTTP is the data path: route by host and path, pick a backend,
// proxy, then account (metrics, /stats, access log).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	// One value slice serves the backend's request (ReverseProxy's copy
	// of r.Header) and the client's answer: nothing appends to it.
	ridv := r.Header["X-Request-Id"]
	switch {
	case len(ridv) == 0 || ridv[0] == "":
		ridv = s.ids.next()
	case len(ridv) > 1:
		ridv = ridv[:1:1] // the first, as Header.Get reads it
	}
	rid := ridv[0]
	rw := s.rwPool.Get().(*responseWriter)
	rw.reset(w)
	defer s.rwPool.Put(rw)

	if !validHeaderNames(r.Header) {
		// RFC 9112 5.1: no whitespace between a field name and its colon.
		// net/http keeps such a field under its odd name; a backend that
		// trims it would read a header (Transfer-Encoding) the proxy did
		// not frame by.
		w.Header().Set("Connection", "close")
		w.Header().Set("X-Request-Id", rid)
		plainError(rw, http.StatusBadRequest, "tug proxy: bad request: whitespace in a header field name")
		s.logAccess(r, rw, start, rid, nil, nil)
		return
	}
	if r.Body != http.NoBody && r.Body != nil {
		if len(r.TransferEncoding) > 0 {
			// RFC 9112 6.1: close after a request that had both
			// Content-Length and Transfer-Encoding. net/http drops the
			// Content-Length before the handler can see both, so every
			// chunked request closes its connection: a reconnect for the
			// rare client that streams uploads, no reuse of a connection
			// whose framing an attacker chose.
			w.Header().Set("Connection", "close")
		}
		// net/http answers Expect: 100-continue itself when the body is
		// first read; the backend must not send a second 100.
		delete(r.Header, "Expect")
		r.Body = &timedBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: s.opts.Limits.BodyReadTimeout}
	}

	routing := s.routing.Load()
	rte := routing.match(r.Host, r.URL.Path)
	if rte == nil && s.serveFlags(rw, r, routing) {
		s.logAccess(r, rw, start, rid, nil, nil)
		return
	}
	if rte == nil {
		w.Header().Set("X-Request-Id", rid)
		plainError(rw, http.StatusNotFound, "tug proxy: no route for host "+strconv.Quote(r.Host)+" path "+strconv.Quote(r.URL.Path))
		s.logAccess(r, rw, start, rid, nil, nil)
		return
	}
	nowNano := start.UnixNano()
	st := s.statePool.Get().(*reqState)
	*st = reqState{routing: routing, route: rte, requestID: rid, ridv: ridv}
	defer s.statePool.Put(st)
	if rte.edge != nil && s.edgeRefuses(rw, r, st, start) {
		s.logAccess(r, rw, start, rid, rte, nil)
		return
	}
	b := rte.sticky(r, nowNano)
	st.stickyHit = b != nil
	if b == nil {
		b = rte.pick(nowNano, nil)
	}
	if b == nil {
		b = s.rematch(r, st, nowNano)
		rte = st.route
	}
	if b == nil {
		w.Header().Set("X-Request-Id", rid)
		plainError(rw, http.StatusServiceUnavailable, "tug proxy: no healthy backend for service "+rte.service+" in "+rte.env)
		s.logAccess(r, rw, start, rid, rte, nil)
		return
	}
	st.backend = b
	st.tried[0] = b
	st.attempts = 1
	s.acquire(b)
	if fastEligible(r) {
		s.serveFast(rw, r, st, start)
	} else {
		r.Header["X-Request-Id"] = ridv
		s.rp.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	}
	b = st.backend
	s.release(b)
	if rw.status == 0 && st.upgraded {
		// ReverseProxy writes the 101 on the hijacked connection itself.
		rw.status = http.StatusSwitchingProtocols
	}
	end := s.now()
	code := rw.status
	if code == 0 {
		code = http.StatusOK
	}
	b.m.observe(code, end.Sub(start), st.transport)
	s.logAccessAt(r, rw, start, end, rid, rte, b)
}

func plainError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n"))
}

func (s *Server) logAccess(r *http.Request, rw *responseWriter, start time.Time, rid string, rte *route, b *backend) {
	if s.access == nil {
		return
	}
	s.logAccessAt(r, rw, start, s.now(), rid, rte, b)
}

// logAccessAt logs a request that ended at end.
func (s *Server) logAccessAt(r *http.Request, rw *responseWriter, start, end time.Time, rid string, rte *route, b *backend) {
	if s.access == nil {
		return
	}
	e := accessEntry{
		time:      start,
		requestID: rid,
		remote:    r.RemoteAddr,
		method:    r.Method,
		host:      r.Host,
		path:      r.URL.Path,
		proto:     r.Proto,
		status:    rw.status,
		bytes:     rw.written,
		duration:  end.Sub(start),
	}
	if e.status == 0 {
		e.status = http.StatusOK
	}
	switch {
	case b != nil && rte != nil && rte.service == b.service && rte.env == b.env:
		e.tail = b.logTail
	case rte != nil:
		e.service, e.env = rte.service, rte.env
		if b != nil {
			e.release, e.instance, e.upstream = b.release, b.instance, b.addr
		}
	}
	s.access.write(&e)
}

// newReverseProxy builds the httputil.ReverseProxy shared by all requests:
// pooled copy buffers and the retrying transport. Streams pass through
// unbuffered: ReverseProxy flushes every write of a text/event-stream or
// unknown-length (chunked) response, and hands upgraded connections
// (WebSocket) over raw. FlushInterval stays 0 for responses of known
// length on purpose: -1 there makes ReverseProxy flush the headers from a
// timer goroutine and then the body, two writes instead of one, which cost
// a third of the proxy's throughput.
func (s *Server) newReverseProxy(tr http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := pr.In.Context().Value(stateKey{}).(*reqState)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = st.backend.addr
			h := pr.Out.Header
			if ip := clientIP(pr.In); ip != "" {
				h.Set("X-Forwarded-For", ip)
			}
			h.Set("X-Forwarded-Host", pr.In.Host)
			h.Set("X-Forwarded-Proto", scheme(pr.In))
		},
		Transport:  tr,
		BufferPool: newBufferPool(),
		ErrorLog:   s.errLog,
		ModifyResponse: func(resp *http.Response) error {
			st := resp.Request.Context().Value(stateKey{}).(*reqState)
			resp.Header["X-Request-Id"] = st.ridv
			s.setSticky(resp.Header, st)
			if e := st.route.edge; e != nil {
				e.setHeaders(resp.Header, st.tls)
			}
			st.upgraded = resp.StatusCode == http.StatusSwitchingProtocols
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st := r.Context().Value(stateKey{}).(*reqState)
			w.Header().Set("X-Request-Id", st.requestID)
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				// The client went away; nobody reads the answer.
				w.WriteHeader(statusClientClosed)
				return
			}
			if st.tooLarge {
				if e := st.route.edge; e != nil {
					e.tooLarge.Inc()
				}
				w.Header().Set("Connection", "close")
				plainError(w, http.StatusRequestEntityTooLarge, "tug proxy: request body larger than the route allows")
				return
			}
			st.transport = true
			s.log.Warn("proxy backend failed", "service", st.route.service, "release", st.backend.release,
				"instance", st.backend.instance, "addr", st.backend.addr, "request_id", st.requestID, "err", err)
			plainError(w, http.StatusBadGateway, "tug proxy: backend "+st.backend.instance+" ("+st.backend.addr+") failed: "+err.Error())
		},
	}
}

// statusClientClosed is nginx's 499: the client closed the connection
// before the answer was ready.
const statusClientClosed = 499

// setSticky pins the client to the backend that answered, unless its
// cookie already did.
func (s *Server) setSticky(h http.Header, st *reqState) {
	rte := st.route
	if rte.stickyCookie == "" || st.stickyHit {
		return
	}
	c := &http.Cookie{Name: rte.stickyCookie, Value: st.backend.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if rte.stickyTTL > 0 {
		c.MaxAge = int(rte.stickyTTL / time.Second)
	}
	h.Add("Set-Cookie", c.String())
}

// rematch picks again against the table now in force when it is not the
// one st.route came from: a table swap drains the old table's backends,
// and a request caught between the two must not fail for it. It updates
// st.routing and st.route; nil when there is still nothing to pick.
func (s *Server) rematch(r *http.Request, st *reqState, now int64) *backend {
	cur := s.routing.Load()
	if cur == st.routing {
		return nil
	}
	again := cur.match(r.Host, r.URL.Path)
	if again == nil {
		return nil
	}
	st.routing, st.route = cur, again
	return again.pick(now, st.tried[:st.attempts])
}

// Forwarded headers, the same on every path (fastpath.go writes them by
// hand from these): X-Forwarded-For is the connection's peer (inbound
// X-Forwarded-* and Forwarded are not trusted and never passed on),
// X-Forwarded-Host the request's host, X-Forwarded-Proto its scheme.

// clientIP is the peer address of r's connection without port.
func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return ip
}

// scheme is "https" for a request that came over TLS.
func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// validHeaderNames: no field name holds a space. net/http's parser lets
// exactly that one invalid byte through ("Name : value").
func validHeaderNames(h http.Header) bool {
	for k := range h {
		if strings.IndexByte(k, ' ') >= 0 {
			return false
		}
	}
	return true
}

// timedBody bounds the wait for each read of a request body: a client
// that stops sending mid-body (one byte every few seconds) ends its
// request and frees the backend connection the body was streaming to.
type timedBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	err error
}

func (b *timedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// The body is whole: net/http's hang-up detection reads the
		// connection from now on, and must not time out.
		b.rc.SetReadDeadline(time.Time{})
	case err != nil:
		// A broken or stalled body (the connection closes after the
		// answer), or a read after Close. The deadline stays as it is:
		// past for a stalled body, so nothing waits on it any more.
		b.err = err
	}
	return n, err
}
