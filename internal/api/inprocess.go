package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// InProcess returns a client whose calls h serves in this process,
// without a socket: each request goes to h.ServeHTTP with the context
// of the call, so the caller's identity (access.WithIdentity, which an
// outer layer such as the dashboard sets after authenticating its own
// sessions) and source (WithSource) travel with it, and the API checks
// roles and audits the call as for any other. Answers stream: a call
// gets its answer as soon as h writes its header, and reads the body as
// h writes it. Safe for concurrent use.
func InProcess(h http.Handler) *Client {
	return &Client{base: "http://tug", hc: &http.Client{Transport: inProcess{h}}}
}

// inProcess is the RoundTripper of InProcess.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	req = req.WithContext(ctx)
	req.RemoteAddr = sourceOf(ctx)
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			w.commit(http.StatusOK)
			pw.Close()
		}()
		t.h.ServeHTTP(w, req)
	}()
	select {
	case <-w.ready:
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	return &http.Response{
		Status:     http.StatusText(w.status),
		StatusCode: w.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        w.sent,
		Body:          &pipeBody{pr: pr, cancel: cancel},
		ContentLength: -1,
		Request:       req,
	}, nil
}

// pipeWriter is the ResponseWriter of an in-process call: the header is
// handed over at the first write (or when the handler returns), the body
// through a pipe the client reads.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
	status int
	sent   http.Header
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) commit(code int) {
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) WriteHeader(code int) { w.commit(code) }

func (w *pipeWriter) Write(b []byte) (int, error) {
	w.commit(http.StatusOK)
	return w.pw.Write(b)
}

// Flush hands the header over; written bytes are already on their way.
func (w *pipeWriter) Flush() { w.commit(http.StatusOK) }

// pipeBody ends the handler's context when the client closes the body.
type pipeBody struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
}

func (b *pipeBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

func (b *pipeBody) Close() error {
	b.cancel()
	b.pr.CloseWithError(errors.New("answer closed by the client"))
	return nil
}

// sourceKey carries where an in-process call came from, for the audit.
type sourceKey struct{}

// WithSource returns ctx naming where the calls made with it come from
// ("dashboard 192.0.2.7:51234"): the audit records of in-process calls
// show it as their source.
func WithSource(ctx context.Context, source string) context.Context {
	return context.WithValue(ctx, sourceKey{}, source)
}

func sourceOf(ctx context.Context) string {
	s, _ := ctx.Value(sourceKey{}).(string)
	return s
}
