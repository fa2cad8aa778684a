package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// maxAttempts bounds how many backends one request may try.
const maxAttempts = 3

// newUpstreamTransport is the keep-alive pool to backends, sized for load:
// Go's default of 2 idle connections per host is the classic cause of a
// slow Go proxy (every burst opens and closes connections).
func newUpstreamTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          0, // no global limit
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
}

// retryTransport sends the request to the backend the handler picked and,
// when that fails to connect, retries idempotent requests (GET, HEAD,
// OPTIONS, or anything without a body) on another backend of the route.
// Connection errors count toward passive ejection.
type retryTransport struct {
	s    *Server
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st, _ := req.Context().Value(stateKey{}).(*reqState)
	if st == nil {
		return t.base.RoundTrip(req)
	}
	retryable := idempotent(req)
	for {
		b := st.backend
		resp, err := t.base.RoundTrip(req)
		if err == nil {
			if b.fails.Load() != 0 {
				b.fails.Store(0)
			}
			return resp, nil
		}
		if !connError(err) {
			return nil, err
		}
		t.s.passiveFailure(b)
		if !retryable || st.attempts >= maxAttempts || req.Context().Err() != nil {
			return nil, err
		}
		now := t.s.now().UnixNano()
		nb := st.route.pick(now, st.tried[:st.attempts])
		if nb == nil {
			nb = t.s.rematch(req, st, now)
		}
		if nb == nil {
			return nil, err
		}
		st.tried[st.attempts] = nb
		st.attempts++
		t.s.acquire(nb)
		t.s.release(b)
		st.backend = nb
		req = req.Clone(req.Context())
		req.URL.Host = nb.addr
	}
}

// idempotent: safe to send twice. GET, HEAD and OPTIONS are, and so is
// any request without a body, because nothing was consumed that cannot be
// sent again; a body already streamed to one backend cannot be replayed.
func idempotent(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody
}

// connError: the backend could not be reached or dropped the connection
// before answering.
func connError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// passiveFailure counts a connection error on b and ejects b for the
// cooldown after EjectAfter consecutive ones.
func (s *Server) passiveFailure(b *backend) {
	n := b.fails.Add(1)
	if int(n) >= s.opts.EjectAfter {
		until := s.now().Add(s.opts.EjectCooldown).UnixNano()
		if b.ejectedUntil.Swap(until) < s.now().UnixNano() {
			s.log.Warn("proxy backend ejected", "service", b.service, "release", b.release,
				"instance", b.instance, "addr", b.addr, "consecutive_failures", n, "cooldown", s.opts.EjectCooldown)
		}
	}
}
