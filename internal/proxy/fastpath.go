package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// The fast path proxies the common request, one without a body and
// without an upgrade, straight from the handler: the request head is
// written by hand to a pooled backend connection and the answer copied
// back, with no request clone, the common answer head parsed from the
// connection's buffer (parseSimpleHead), a client hang-up watched without
// allocating (upConn.watch), and one goroutine throughout. It keeps
// ReverseProxy's rules
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
		ans, uc, err := s.exchange(ctx, w.Header(), r, st, b, now)
		if err == nil {
			if b.fails.Load() != 0 {
				b.fails.Store(0)
			}
			s.copyAnswer(w, st, ans, uc, now)
			return
		}
		if ctx.Err() != nil || errors.Is(err, errClientGone) {
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

// exchange sends the request head to b and reads the answer's head (a
// simple head straight into dst, see readAnswer). A kept-alive connection
// that the backend closed meanwhile is replaced once by a fresh one.
func (s *Server) exchange(ctx context.Context, dst http.Header, r *http.Request, st *reqState, b *backend, now time.Time) (answer, *upConn, error) {
	u := s.upstream
	gc, _ := ctx.Value(guardConnKey{}).(*guardConn)
	for attempt := 0; ; attempt++ {
		uc, reused, err := u.get(ctx, b.addr, now)
		if err != nil {
			return answer{}, nil, err
		}
		uc.watch(ctx, gc)
		// Appended in place in the writer's free space when it fits.
		uc.bw.Write(appendRequestHead(uc.bw.AvailableBuffer(), r, st.requestID))
		err = uc.bw.Flush()
		var ans answer
		if err == nil {
			ans, err = readAnswer(uc.br, r, dst)
		}
		if err == nil {
			return ans, uc, nil
		}
		gone := !uc.unwatch()
		uc.c.Close()
		if gone {
			return answer{}, nil, errClientGone
		}
		if reused && attempt == 0 && ctx.Err() == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || connError(err)) {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// Dropped before answering: a connection error for ejection.
			return answer{}, nil, &net.OpError{Op: "read", Net: "tcp", Err: err}
		}
		return answer{}, nil, err
	}
}

// errClientGone: the client hung up during the exchange.
var errClientGone = errors.New("proxy: the client hung up")

// answer is the head of a backend's answer: resp as http.ReadResponse
// parsed it, or, when resp is nil, a simple head that parseSimpleHead put
// into the client's header map already.
type answer struct {
	resp   *http.Response
	status int
	length int64 // the simple head's Content-Length
	close  bool  // the simple head's Connection: close
}

// readAnswer reads the answer's head from br: the common head by
// parseSimpleHead into dst, anything else by http.ReadResponse, which
// knows every rule (1xx answers, bodies framed by chunks or by the end
// of the connection, HEAD, trailers).
func readAnswer(br *bufio.Reader, r *http.Request, dst http.Header) (answer, error) {
	if _, err := br.Peek(1); err != nil {
		return answer{}, err
	}
	if a, ok := parseSimpleHead(br, r.Method, dst); ok {
		return a, nil
	}
	for {
		resp, err := http.ReadResponse(br, r)
		if err != nil {
			return answer{}, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // 1xx informational: the answer follows
		}
		return answer{resp: resp, status: resp.StatusCode}, nil
	}
}

// maxSimpleFields bounds the fields of a head parseSimpleHead takes.
const maxSimpleFields = 32

// parseSimpleHead parses the common answer head from what br holds
// already, without the allocations of http.ReadResponse (one string for
// the fields, one slice for their values), and adds its end-to-end fields
// to dst. It takes only a head it can frame without doubt: HTTP/1.1, a
// status of 200 to 599 but 204 and 304, for a method other than HEAD;
// exactly one Content-Length of digits; no Transfer-Encoding, Trailer,
// Pragma (ReadResponse adds a Cache-Control for it) or event-stream
// Content-Type (flushed as it comes); a Connection naming nothing but
// close and keep-alive; every line ending in CRLF, every name a token,
// every value free of control bytes; at most maxSimpleFields fields. It
// accepts nothing ReadResponse refuses. Anything else, or a head not yet
// whole in the buffer, returns false with nothing consumed or added.
func parseSimpleHead(br *bufio.Reader, method string, dst http.Header) (answer, bool) {
	if method == http.MethodHead {
		return answer{}, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return answer{}, false
	}
	head := buf[:end+2] // every line with its CRLF
	nl := bytes.IndexByte(head, '\n')
	line := head[:nl] // with its CR
	if len(line) < 13 || string(line[:9]) != "HTTP/1.1 " || line[len(line)-1] != '\r' || (len(line) > 13 && line[12] != ' ') {
		return answer{}, false
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return answer{}, false
		}
		status = status*10 + int(c-'0')
	}
	if status < 200 || status > 599 || status == http.StatusNoContent || status == http.StatusNotModified {
		return answer{}, false
	}

	type field struct {
		ks, ke, vs, ve int // offsets in head
		hop            bool
		canon          bool // the name is in canonical form already
	}
	var fields [maxSimpleFields]field
	n, kept := 0, 0
	a := answer{status: status, length: -1}
	for p := nl + 1; p < len(head); {
		e := p + bytes.IndexByte(head[p:], '\n')
		if e == p || head[e-1] != '\r' || n == maxSimpleFields {
			return answer{}, false // a bare LF, or too many fields
		}
		colon := bytes.IndexByte(head[p:e], ':')
		if colon <= 0 {
			return answer{}, false
		}
		f := field{ks: p, ke: p + colon, vs: p + colon + 1, ve: e - 1, canon: true}
		upper := true // canonical: upper case first and after '-', lower elsewhere
		for _, c := range head[f.ks:f.ke] {
			if !tokenByte(c) {
				return answer{}, false
			}
			if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
				f.canon = false
			}
			upper = c == '-'
		}
		for f.vs < f.ve && (head[f.vs] == ' ' || head[f.vs] == '\t') {
			f.vs++
		}
		for f.ve > f.vs && (head[f.ve-1] == ' ' || head[f.ve-1] == '\t') {
			f.ve--
		}
		v := head[f.vs:f.ve]
		for _, c := range v {
			if c < ' ' && c != '\t' || c == 0x7f {
				return answer{}, false
			}
		}
		switch k := head[f.ks:f.ke]; len(k) { // names by length, then bytes
		case len("content-length"):
			if !fieldIs(k, "content-length") {
				break
			}
			if a.length >= 0 || len(v) == 0 || len(v) > 18 {
				return answer{}, false
			}
			a.length = 0
			for _, c := range v {
				if c < '0' || c > '9' {
					return answer{}, false
				}
				a.length = a.length*10 + int64(c-'0')
			}
		case len("transfer-encoding"), len("trailer"), len("pragma"):
			if fieldIs(k, "transfer-encoding") || fieldIs(k, "trailer") || fieldIs(k, "pragma") {
				return answer{}, false
			}
			f.hop = fieldIs(k, "upgrade")
		case len("content-type"):
			if fieldIs(k, "content-type") && eventStream(string(v)) {
				return answer{}, false
			}
		case len("connection"):
			if fieldIs(k, "keep-alive") {
				f.hop = true
				break
			}
			if !fieldIs(k, "connection") {
				break
			}
			f.hop = true
			for rest := v; len(rest) > 0; {
				t, after, _ := bytes.Cut(rest, []byte(","))
				switch t, rest = bytes.TrimSpace(t), after; {
				case fieldIs(t, "close"):
					a.close = true
				case len(t) == 0, fieldIs(t, "keep-alive"):
				default:
					return answer{}, false // names more hop-by-hop fields
				}
			}
		case len("te"), len("proxy-connection"), len("proxy-authenticate"), len("proxy-authorization"):
			f.hop = fieldIs(k, "te") || fieldIs(k, "proxy-connection") || fieldIs(k, "proxy-authenticate") || fieldIs(k, "proxy-authorization")
		}
		if !f.hop {
			kept++
		}
		fields[n] = f
		n++
		p = e + 1
	}
	if a.length < 0 {
		return answer{}, false
	}

	hs := string(head) // the one copy the fields' names and values share
	vals := make([]string, kept)
	for _, f := range fields[:n] {
		if f.hop {
			continue
		}
		k, v := hs[f.ks:f.ke], hs[f.vs:f.ve]
		if !f.canon {
			k = textproto.CanonicalMIMEHeaderKey(k)
		}
		if old, ok := dst[k]; ok {
			dst[k] = append(old, v)
			continue
		}
		vals[0] = v
		dst[k], vals = vals[:1:1], vals[1:]
	}
	br.Discard(end + 4)
	return a, true
}

// fieldIs compares a field name (or token) to lower, case-insensitively.
func fieldIs(k []byte, lower string) bool {
	if len(k) != len(lower) {
		return false
	}
	for i, c := range k {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// tokenByte: c may appear in a field name (RFC 9110 5.6.2 tchar).
func tokenByte(c byte) bool {
	if l := c | 0x20; 'a' <= l && l <= 'z' || c == '-' {
		return true // most of a name
	}
	const mask = 0 |
		(1<<10-1)<<'0' | (1<<26-1)<<'a' | (1<<26-1)<<'A' |
		1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' | 1<<'*' | 1<<'+' |
		1<<'-' | 1<<'.' | 1<<'^' | 1<<'_' | 1<<'`' | 1<<'|' | 1<<'~'
	return ((uint64(1)<<c)&(mask&(1<<64-1)) | (uint64(1)<<(c-64))&(mask>>64)) != 0
}

// appendRequestHead appends r's head for the backend: hop-by-hop headers
// dropped, X-Forwarded-For/-Host/-Proto set from this connection (inbound
// ones are not trusted), X-Request-Id set.
func appendRequestHead(b []byte, r *http.Request, rid string) []byte {
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = appendRequestURI(b, r.URL)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
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
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if ip := clientIP(r); ip != "" {
		b = append(b, "X-Forwarded-For: "...)
		b = append(b, ip...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "X-Forwarded-Host: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\nX-Forwarded-Proto: "...)
	b = append(b, scheme(r)...)
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, rid...)
	return append(b, "\r\n\r\n"...)
}

// appendRequestURI appends u.RequestURI() without building the string.
func appendRequestURI(b []byte, u *url.URL) []byte {
	if u.Opaque != "" || u.Scheme != "" {
		return append(b, u.RequestURI()...) // rare forms: the one definition
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	b = append(b, p...)
	if u.ForceQuery || u.RawQuery != "" {
		b = append(b, '?')
		b = append(b, u.RawQuery...)
	}
	return b
}

// copyAnswer writes the backend's answer to the client and gives the
// connection back to the pool when the body was read to its end.
func (s *Server) copyAnswer(w http.ResponseWriter, st *reqState, ans answer, uc *upConn, now time.Time) {
	dst := w.Header()
	resp := ans.resp
	if resp != nil {
		conn := resp.Header["Connection"]
		for k, vv := range resp.Header {
			if isHop(k, conn) {
				continue
			}
			dst[k] = vv
		}
	}
	dst["X-Request-Id"] = st.ridv
	s.setSticky(dst, st)
	if e := st.route.edge; e != nil {
		e.setHeaders(dst, st.tls)
	}
	if resp == nil {
		w.WriteHeader(ans.status)
		complete := s.copyLength(w, uc.br, ans.length)
		if stopped := uc.unwatch(); complete && stopped && !ans.close && uc.br.Buffered() == 0 {
			s.upstream.put(uc, now)
			return
		}
		uc.c.Close()
		return
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
	stopped := uc.unwatch()
	if complete && stopped && !resp.Close && uc.br.Buffered() == 0 {
		s.upstream.put(uc, now)
		return
	}
	uc.c.Close()
	resp.Body.Close()
}

// copyLength copies a body of n bytes from br to w: what br holds already
// straight from its buffer, the rest through a pooled buffer. It reports
// whether all n bytes were copied.
func (s *Server) copyLength(w io.Writer, br *bufio.Reader, n int64) bool {
	if k := int(min(n, int64(br.Buffered()))); k > 0 {
		p, _ := br.Peek(k)
		_, err := w.Write(p)
		br.Discard(k)
		n -= int64(k)
		if err != nil {
			return false
		}
	}
	if n == 0 {
		return true
	}
	bp := s.buffers.get()
	defer s.buffers.put(bp)
	buf := *bp
	for n > 0 {
		m, err := br.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			if _, werr := w.Write(buf[:m]); werr != nil {
				return false
			}
			n -= int64(m)
		}
		if err != nil && n > 0 {
			return false
		}
	}
	return true
}

// isEventStream: Content-Type text/event-stream (SSE), parameters ignored.
func isEventStream(ct []string) bool {
	return len(ct) > 0 && eventStream(ct[0])
}

// eventStream: the Content-Type value v is text/event-stream.
func eventStream(v string) bool {
	v = strings.TrimSpace(v)
	const sse = "text/event-stream"
	return len(v) >= len(sse) && strings.EqualFold(v[:len(sse)], sse) && (len(v) == len(sse) || v[len(sse)] == ';' || v[len(sse)] == ' ')
}
