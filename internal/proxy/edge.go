package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"
)

// Edge is what the proxy enforces on a route beyond routing: a rate limit
// per client, a body limit, response headers, and HTTPS (redirect, HSTS).
// A route without one costs nothing more per request.
type Edge struct {
	// RateLimit is a token bucket per client, shared by every route of the
	// same service and environment.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// MaxBody is the largest request body in bytes (0 = no limit): a larger
	// declared one gets 413 at once, a chunked one that grows past it is
	// cut and answered 413.
	MaxBody int64 `json:"max_body,omitempty"`
	// Headers are set on every answer of the route, replacing the
	// backend's; an empty value removes the header.
	Headers map[string]string `json:"headers,omitempty"`
	// RedirectHTTPS answers plain HTTP with 308 to the same URL on the
	// proxy's HTTPS listener (when it has one).
	RedirectHTTPS bool `json:"redirect_https,omitempty"`
	// HSTS is the max-age of Strict-Transport-Security on HTTPS answers.
	HSTS time.Duration `json:"hsts,omitempty"`
}

// RateLimit lets each client send Requests per Per on average and Burst
// at once. By is "client_ip" (default) or "header:NAME"; a request
// without that header counts by its client IP.
type RateLimit struct {
	Requests int           `json:"requests"`
	Per      time.Duration `json:"per,omitempty"`
	Burst    int           `json:"burst,omitempty"`
	By       string        `json:"by,omitempty"`
}

// validEdge checks a route's edge settings; at names the route.
func validEdge(at string, e *Edge) error {
	if e == nil {
		return nil
	}
	if rl := e.RateLimit; rl != nil {
		if rl.Requests < 1 || rl.Per < 0 || rl.Burst < 0 {
			return fmt.Errorf("%w: %s.edge.rate_limit: requests must be at least 1, per and burst not negative", ErrInvalidTable, at)
		}
		if _, err := limitKeyOf(rl.By); err != nil {
			return fmt.Errorf("%w: %s.edge.rate_limit.by: %v", ErrInvalidTable, at, err)
		}
	}
	if e.MaxBody < 0 || e.HSTS < 0 {
		return fmt.Errorf("%w: %s.edge: max_body and hsts must not be negative", ErrInvalidTable, at)
	}
	for k, v := range e.Headers {
		if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("%w: %s.edge.headers: %q: not a valid header", ErrInvalidTable, at, k)
		}
	}
	return nil
}

// limitKeyOf turns by into the canonical header name clients are told
// apart by ("" = the client IP).
func limitKeyOf(by string) (string, error) {
	switch {
	case by == "" || by == "client_ip":
		return "", nil
	case len(by) > len("header:") && by[:len("header:")] == "header:":
		name := by[len("header:"):]
		if !httpguts.ValidHeaderFieldName(name) {
			return "", fmt.Errorf("%q is not a header name", name)
		}
		return http.CanonicalHeaderKey(name), nil
	}
	return "", fmt.Errorf("%q: want client_ip or header:NAME", by)
}

// edgePolicy is a route's Edge compiled for the request path.
type edgePolicy struct {
	limiter  *limiter // nil: no rate limit
	maxBody  int64
	headers  []headerValue
	hsts     string // the Strict-Transport-Security value, "" for none
	redirect bool
	// Answers the proxy gives itself, counted in tug_proxy_requests_total
	// with empty release and instance.
	limited, tooLarge prometheus.Counter
}

type headerValue struct{ name, value string }

// attachEdges compiles the edge policy of every route of rt. Rate
// limiters carry over from the table before when a service keeps the
// same limit, so a table push (every deploy step) resets no client's
// bucket. Called under applyMu.
func (s *Server) attachEdges(rt *routing) {
	kept := map[string]*limiter{}
	for _, routes := range rt.byHost {
		for _, r := range routes {
			e := r.edgeSpec
			if e == nil {
				continue
			}
			p := &edgePolicy{
				maxBody:  e.MaxBody,
				redirect: e.RedirectHTTPS,
				limited:  s.metrics.requests.WithLabelValues(r.service, r.env, "", "", "429"),
				tooLarge: s.metrics.requests.WithLabelValues(r.service, r.env, "", "", "413"),
			}
			for k, v := range e.Headers {
				p.headers = append(p.headers, headerValue{http.CanonicalHeaderKey(k), v})
			}
			if e.HSTS > 0 {
				p.hsts = "max-age=" + strconv.FormatInt(int64(e.HSTS/time.Second), 10)
			}
			if rl := e.RateLimit; rl != nil {
				key := fmt.Sprintf("%s\x00%s\x00%d/%d/%d/%s", r.service, r.env, rl.Requests, rl.Per, rl.Burst, rl.By)
				l := kept[key]
				if l == nil {
					l = s.limiters[key]
				}
				if l == nil {
					l = newLimiter(rl, s.opts.RateLimitClients)
				}
				kept[key] = l
				p.limiter = l
			}
			r.edge = p
		}
	}
	s.limiters = kept
}

// edgeRefuses applies r's route policy before it is proxied: it answers
// (and returns true) a plain request that must move to HTTPS, a client
// over its rate, or a body declared too large; a body of unknown length
// is bounded as it streams.
func (s *Server) edgeRefuses(w http.ResponseWriter, r *http.Request, st *reqState, now time.Time) bool {
	e := st.route.edge
	st.tls = r.TLS != nil
	if e.redirect && r.TLS == nil && s.httpsLn != nil {
		host := st.route.host
		if strings.IndexByte(host, ':') >= 0 {
			host = "[" + host + "]" // an IPv6 address
		}
		u := "https://" + host + s.httpsPort + r.URL.RequestURI()
		h := w.Header()
		h.Set("Location", u)
		h.Set("X-Request-Id", st.requestID)
		w.WriteHeader(http.StatusPermanentRedirect)
		return true
	}
	if l := e.limiter; l != nil {
		key := ""
		if l.header != "" {
			key = r.Header.Get(l.header)
		}
		if key == "" {
			key = clientIP(r)
		}
		if wait, ok := l.allow(key, now.UnixNano()); !ok {
			e.limited.Inc()
			h := w.Header()
			h.Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
			h.Set("X-Request-Id", st.requestID)
			plainError(w, http.StatusTooManyRequests, "tug proxy: rate limit of service "+st.route.service+" exceeded")
			return true
		}
	}
	if e.maxBody > 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > e.maxBody {
			e.tooLarge.Inc()
			w.Header().Set("Connection", "close")
			w.Header().Set("X-Request-Id", st.requestID)
			plainError(w, http.StatusRequestEntityTooLarge, "tug proxy: request body larger than "+strconv.FormatInt(e.maxBody, 10)+" bytes")
			return true
		}
		if r.ContentLength < 0 {
			r.Body = &boundedBody{ReadCloser: r.Body, left: e.maxBody, st: st}
		}
	}
	return false
}

// setHeaders puts the route's headers on an answer: HSTS on HTTPS
// answers, then the configured ones (an empty value removes).
func (e *edgePolicy) setHeaders(h http.Header, tls bool) {
	if tls && e.hsts != "" {
		h["Strict-Transport-Security"] = []string{e.hsts}
	}
	for _, hv := range e.headers {
		if hv.value == "" {
			delete(h, hv.name)
			continue
		}
		h[hv.name] = []string{hv.value}
	}
}

// errBodyTooLarge ends a streamed body that grew past the route's
// max_body; the request is answered 413.
var errBodyTooLarge = fmt.Errorf("request body larger than the route's max_body")

// boundedBody cuts a body of unknown length (chunked) at left bytes.
type boundedBody struct {
	io.ReadCloser
	left int64
	st   *reqState
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		b.st.tooLarge = true
		return 0, errBodyTooLarge
	}
	return n, err
}

// httpsPortSuffix is what a redirect appends to the host: "" for the
// default port 443, ":PORT" otherwise.
func httpsPortSuffix(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && a.Port != 443 {
		return ":" + strconv.Itoa(a.Port)
	}
	return ""
}
