package proxy

import (
	"net/http"
	"sync"
)

// responseWriter records the status and size of an answer for metrics and
// the access log. It hides nothing: Unwrap lets http.ResponseController
// (used by ReverseProxy) reach Flush and Hijack of the real writer, so
// SSE and WebSocket upgrades pass through.
type responseWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *responseWriter) reset(rw http.ResponseWriter) {
	*w = responseWriter{ResponseWriter: rw}
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	if code == statusClientClosed {
		return // nothing to send to a client that left
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

// Unwrap is for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool lends ReverseProxy its 32 KiB copy buffers instead of
// allocating one per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	bp := &bufferPool{}
	bp.p.New = func() any { b := make([]byte, 32<<10); return &b }
	return bp
}

// Get and Put are httputil.BufferPool's (Put allocates the box);
// get and put lend the box itself, allocating nothing.
func (bp *bufferPool) Get() []byte  { return *bp.get() }
func (bp *bufferPool) Put(b []byte) { bp.put(&b) }

func (bp *bufferPool) get() *[]byte  { return bp.p.Get().(*[]byte) }
func (bp *bufferPool) put(b *[]byte) { bp.p.Put(b) }
