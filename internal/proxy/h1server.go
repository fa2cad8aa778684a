package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// h1Server serves HTTP/1.x on the plain listener with one loop per
// connection: read a request with http.ReadRequest (net/http's own
// parser), run the handler, write the answer, repeat. It leaves out what
// net/http.Server does per request that a proxy does not need (a
// background read goroutine per request to detect hang-ups, a context,
// header clones), which makes it about a third cheaper per request. TLS
// (and with it HTTP/2) stays on net/http.Server.
//
// What it supports: keep-alive, HTTP/1.0 close-delimited answers,
// chunked answers of unknown length with trailers, Expect: 100-continue,
// 1xx informational answers, Flush (SSE) and Hijack (WebSocket), request
// head size and time limits, idle timeout and graceful Shutdown.
type h1Server struct {
	handler           http.Handler
	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int64

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*h1Conn]struct{}
	shutting atomic.Bool
}

// h1Conn states, for Shutdown: idle connections are closed at once,
// active ones after their current request.
const (
	h1Idle int32 = iota
	h1Active
)

type h1Conn struct {
	srv    *h1Server
	c      net.Conn
	lr     limitReader
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string
	state  atomic.Int32
	w      h1Writer
}

// limitReader caps how much a request head may read.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var errHeadTooLarge = errors.New("request head too large")

func newH1Server(h http.Handler) *h1Server {
	return &h1Server{
		handler:           h,
		readHeaderTimeout: 30 * time.Second,
		idleTimeout:       2 * time.Minute,
		maxHeaderBytes:    1 << 20,
		conns:             map[*h1Conn]struct{}{},
	}
}

// Serve accepts until ln is closed.
func (h *h1Server) Serve(ln net.Listener) error {
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if h.shutting.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "too many open files") {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		hc := &h1Conn{srv: h, c: c, remote: c.RemoteAddr().String()}
		hc.lr.r = c
		hc.br = bufio.NewReaderSize(&hc.lr, 4096)
		hc.bw = bufio.NewWriterSize(c, 4096)
		hc.state.Store(h1Active)
		h.mu.Lock()
		if h.shutting.Load() {
			h.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		h.conns[hc] = struct{}{}
		h.mu.Unlock()
		go h.serveConn(hc)
	}
}

func (h *h1Server) serveConn(hc *h1Conn) {
	hijacked := false
	defer func() {
		h.mu.Lock()
		delete(h.conns, hc)
		h.mu.Unlock()
		if !hijacked {
			hc.c.Close()
		}
	}()
	for {
		hc.state.Store(h1Idle)
		if h.shutting.Load() {
			return
		}
		hc.c.SetReadDeadline(time.Now().Add(h.idleTimeout))
		hc.lr.n = h.maxHeaderBytes
		if _, err := hc.br.Peek(1); err != nil {
			return
		}
		hc.state.Store(h1Active)
		hc.c.SetReadDeadline(time.Now().Add(h.readHeaderTimeout))
		req, err := http.ReadRequest(hc.br)
		if err != nil {
			h.badRequest(hc, err)
			return
		}
		hc.c.SetReadDeadline(time.Time{})
		hc.lr.n = math.MaxInt64
		if req.ProtoMajor != 1 || (req.ProtoAtLeast(1, 1) && req.Host == "" && len(req.Header["Host"]) == 0) {
			h.badRequest(hc, errors.New("missing Host header"))
			return
		}
		req.RemoteAddr = hc.remote
		if req.Header.Get("Expect") != "" {
			if !strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
				hc.bw.WriteString("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				hc.bw.Flush()
				return
			}
			if req.Body != http.NoBody {
				hc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
				hc.bw.Flush()
			}
			req.Header.Del("Expect")
		}
		w := &hc.w
		w.reset(hc, req)
		h.handler.ServeHTTP(w, req)
		if w.hijacked {
			hijacked = true
			return
		}
		if err := w.finish(); err != nil || w.closeAfter {
			return
		}
		// Drain what the handler left of the body, within reason.
		if req.Body != http.NoBody {
			n, _ := io.CopyN(io.Discard, req.Body, 256<<10)
			if n == 256<<10 {
				return
			}
			req.Body.Close()
		}
		if req.Close || h.shutting.Load() {
			return
		}
	}
}

func (h *h1Server) badRequest(hc *h1Conn, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return
	}
	code, msg := "400 Bad Request", "bad request"
	if errors.Is(err, errHeadTooLarge) {
		code, msg = "431 Request Header Fields Too Large", "request head too large"
	}
	hc.c.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(hc.bw, "HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", code, len(msg), msg)
	hc.bw.Flush()
}

// Shutdown stops accepting, closes idle connections and waits for active
// ones to finish their request (or ctx to end).
func (h *h1Server) Shutdown(ctx context.Context) error {
	h.shutting.Store(true)
	h.mu.Lock()
	if h.ln != nil {
		h.ln.Close()
	}
	h.mu.Unlock()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		h.mu.Lock()
		for hc := range h.conns {
			if hc.state.Load() == h1Idle {
				hc.c.Close()
			}
		}
		n := len(h.conns)
		h.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close closes the listener and every connection.
func (h *h1Server) Close() error {
	h.shutting.Store(true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln != nil {
		h.ln.Close()
	}
	for hc := range h.conns {
		hc.c.Close()
	}
	return nil
}

// h1Writer is the http.ResponseWriter of one request on an h1Conn.
type h1Writer struct {
	hc     *h1Conn
	req    *http.Request
	header http.Header

	wroteHeader   bool
	status        int
	chunked       bool
	noBody        bool
	contentLength int64
	written       int64
	closeAfter    bool
	hijacked      bool
	err           error
}

var (
	_ http.ResponseWriter = (*h1Writer)(nil)
	_ http.Flusher        = (*h1Writer)(nil)
	_ http.Hijacker       = (*h1Writer)(nil)
)

func (w *h1Writer) reset(hc *h1Conn, req *http.Request) {
	h := w.header
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*w = h1Writer{hc: hc, req: req, header: h, contentLength: -1}
}

func (w *h1Writer) Header() http.Header { return w.header }

func (w *h1Writer) WriteHeader(code int) {
	if w.wroteHeader || w.hijacked {
		return
	}
	bw := w.hc.bw
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		writeStatusLine(bw, code)
		writeHeaderLines(bw, w.header)
		bw.WriteString("\r\n")
		w.err = bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	h := w.header
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent ||
		code == http.StatusNotModified || code == http.StatusSwitchingProtocols
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			delete(h, "Content-Length")
		}
	}
	if te := h["Transfer-Encoding"]; te != nil {
		delete(h, "Transfer-Encoding") // framing is ours to choose
	}
	if !w.noBody && w.contentLength < 0 {
		if w.req.ProtoAtLeast(1, 1) {
			w.chunked = true
		} else {
			w.closeAfter = true
		}
	}
	for _, v := range h["Connection"] {
		if strings.EqualFold(strings.TrimSpace(v), "close") {
			w.closeAfter = true
		}
	}
	writeStatusLine(bw, code)
	writeHeaderLines(bw, h)
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	// A stopping server says so, so clients do not reuse the connection.
	if (w.req.Close || w.closeAfter || w.hc.srv.shutting.Load()) && h["Connection"] == nil {
		bw.WriteString("Connection: close\r\n")
		w.closeAfter = true
	}
	bw.WriteString("\r\n")
}

func writeStatusLine(bw *bufio.Writer, code int) {
	switch code {
	case 200:
		bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	bw.WriteString("HTTP/1.1 ")
	var num [8]byte
	bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(text)
	bw.WriteString("\r\n")
}

// writeHeaderLines writes h; a value cannot break the framing (CR and LF
// become spaces), keys with Trailer: prefix are trailers, not headers.
func writeHeaderLines(bw *bufio.Writer, h http.Header) {
	for k, vv := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || !validHeaderKey(k) {
			continue
		}
		for _, v := range vv {
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
}

func validHeaderKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

func (w *h1Writer) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.hc.bw
	if w.chunked {
		var hexLen [16]byte
		bw.Write(strconv.AppendInt(hexLen[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	} else if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	n, err := bw.Write(p)
	w.written += int64(n)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

func (w *h1Writer) Flush() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if err := w.hc.bw.Flush(); err != nil && w.err == nil {
		w.err = err
	}
}

// Hijack hands the connection to the handler (WebSocket upgrades).
func (w *h1Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if err := w.hc.bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	w.hc.lr.n = math.MaxInt64
	return w.hc.c, bufio.NewReadWriter(w.hc.br, w.hc.bw), nil
}

// finish ends the answer: status if none was written, the last chunk with
// trailers, and the flush.
func (w *h1Writer) finish() error {
	if !w.wroteHeader {
		if w.contentLength < 0 && w.header["Content-Length"] == nil {
			w.header.Set("Content-Length", "0")
		}
		w.WriteHeader(http.StatusOK)
	}
	bw := w.hc.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		trailers := http.Header{}
		for _, decl := range w.header["Trailer"] {
			for _, k := range strings.Split(decl, ",") {
				k = http.CanonicalHeaderKey(strings.TrimSpace(k))
				if vv := w.header[k]; vv != nil {
					trailers[k] = vv
				}
			}
		}
		for k, vv := range w.header {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				trailers[strings.TrimPrefix(k, http.TrailerPrefix)] = vv
			}
		}
		writeHeaderLines(bw, trailers)
		bw.WriteString("\r\n")
	} else if w.contentLength >= 0 && w.written != w.contentLength && !w.noBody {
		w.closeAfter = true // the framing promised more: the client must not reuse
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return w.err
}
