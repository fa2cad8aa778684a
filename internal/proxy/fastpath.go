package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The fast path proxies the common request, one without a body and
// without an upgrade, straight from the handler: the request head is
// written by hand to a pooled backend connection and the answer copied
// back, with no request clone, header maps built only by the response
// parser, and one goroutine throughout. It keeps ReverseProxy's rules
// (hop-by-hop headers dropped both ways, X-Forwarded-* set from the
// connection, streams flushed as they come). Everything else (bodies,
// WebSocket, CONNECT, Expect) takes httputil.ReverseProxy.

// fastEligible says whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	return r.Body == http.NoBody && r.Method != http.MethodConnect &&
		r.Header["Upgrade"] == nil && r.Header["Expect"] == nil
}

// hopHeaders are hop-by-hop (RFC 9110 7.6.1): never forwarded.
var hopHeaders = [...]string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func isHop(k string, conn []string) bool {
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	for _, v := range conn {
		for _, name := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(name), k) {
				return true
			}
		}
	}
	return false
}

// serveFast proxies r to st.backend, retrying on other backends when a
// backend cannot be reached (a request without body is always safe to
// resend). It reports a transport failure in st.transport.
// now is when the request began: the pool's idle clock.
func (s *Server) serveFast(w http.ResponseWriter, r *http.Request, st *reqState, now time.Time) {
	ctx := r.Context()
	for {
		b := st.backend
		resp, uc, err := s.exchange(ctx, r, st, b, now)
		if err == nil {
			if b.fails.Load() != 0 {
				b.fails.Store(0)
			}
			s.copyAnswer(w, st, resp, uc, now)
			return
		}
		if ctx.Err() != nil {
			w.WriteHeader(statusClientClosed)
			return
		}
		if connError(err) {
			s.passiveFailure(b)
			if st.attempts < maxAttempts {
				now := s.now().UnixNano()
				nb := st.route.pick(now, st.tried[:st.attempts])
				if nb == nil {
					nb = s.rematch(r, st, now)
				}
				if nb != nil {
					st.tried[st.attempts] = nb
					st.attempts++
					s.acquire(nb)
					s.release(b)
					st.backend = nb
					continue
				}
			}
		}
		st.transport = true
		s.log.Warn("proxy backend failed", "service", st.route.service, "release", b.release,
			"instance", b.instance, "addr", b.addr, "request_id", st.requestID, "err", err)
		w.Header().Set("X-Request-Id", st.requestID)
		plainError(w, http.StatusBadGateway, "tug proxy: backend "+b.instance+" ("+b.addr+") failed: "+err.Error())
		return
	}
}

// exchange sends the request head to b and reads the answer's head. A
// kept-alive connection that the backend closed meanwhile is replaced
// once by a fresh one.
func (s *Server) exchange(ctx context.Context, r *http.Request, st *reqState, b *backend, now time.Time) (*http.Response, *upConn, error) {
	u := s.upstream
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get(ctx, b.addr, now)
		if err != nil {
			return nil, nil, err
		}
		uc.stop = context.AfterFunc(ctx, func() { uc.c.SetDeadline(time.Unix(1, 0)) })
		writeRequestHead(uc.bw, r, st.requestID)
		err = uc.bw.Flush()
		var resp *http.Response
		for err == nil {
			resp, err = http.ReadResponse(uc.br, r)
			if err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
				continue // 1xx informational: the answer follows
			}
			break
		}
		if err == nil {
			return resp, uc, nil
		}
		uc.stop()
		uc.c.Close()
		if reused && attempt == 0 && ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || connError(err)) {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Dropped before answering: a connection error for ejection.
			return nil, nil, &net.OpError{Op: "read", Net: "tcp", Err: err}
		}
		return nil, nil, err
	}
}

// writeRequestHead writes r's head for the backend: hop-by-hop headers
// dropped, X-Forwarded-For/-Host/-Proto set from this connection (inbound
// ones are not trusted), X-Request-Id set.
func writeRequestHead(bw *bufio.Writer, r *http.Request, rid string) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	writeRequestURI(bw, r.URL)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Request-Id", "Forwarded", "Content-Length":
			continue
		}
		if isHop(k, conn) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if ip := clientIP(r); ip != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\nX-Forwarded-Proto: ")
	bw.WriteString(scheme(r))
	bw.WriteString("\r\nX-Request-Id: ")
	bw.WriteString(rid)
	bw.WriteString("\r\n\r\n")
}

// writeRequestURI writes u.RequestURI() without building the string.
func writeRequestURI(bw *bufio.Writer, u *url.URL) {
	if u.Opaque != "" || u.Scheme != "" {
		bw.WriteString(u.RequestURI()) // rare forms: the one definition
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	bw.WriteString(p)
	if u.ForceQuery || u.RawQuery != "" {
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
}

// copyAnswer writes the backend's answer to the client and gives the
// connection back to the pool when the body was read to its end.
func (s *Server) copyAnswer(w http.ResponseWriter, st *reqState, resp *http.Response, uc *upConn, now time.Time) {
	dst := w.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if isHop(k, conn) {
			continue
		}
		dst[k] = vv
	}
	dst["X-Request-Id"] = st.ridv
	s.setSticky(dst, st)
	if e := st.route.edge; e != nil {
		e.setHeaders(dst, st.tls)
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		dst["Trailer"] = []string{strings.Join(names, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	var rc *http.ResponseController
	if resp.ContentLength == -1 || isEventStream(resp.Header["Content-Type"]) {
		rc = http.NewResponseController(w) // a stream: flush as it comes
	}
	bp := s.buffers.get()
	buf := *bp
	complete := false
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				break
			}
			if rc != nil {
				rc.Flush()
			}
		}
		if err == io.EOF {
			complete = true
			break
		}
		if err != nil {
			break
		}
	}
	s.buffers.put(bp)
	for k, vv := range resp.Trailer {
		dst[k] = vv
	}
	stopped := uc.stop()
	if complete && stopped && !resp.Close && uc.br.Buffered() == 0 {
		s.upstream.put(uc, now)
		return
	}
	uc.c.Close()
	resp.Body.Close()
}

// isEventStream: Content-Type text/event-stream (SSE), parameters ignored.
func isEventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	v := strings.TrimSpace(ct[0])
	const sse = "text/event-stream"
	return len(v) >= len(sse) && strings.EqualFold(v[:len(sse)], sse) && (len(v) == len(sse) || v[len(sse)] == ';' || v[len(sse)] == ' ')
}
