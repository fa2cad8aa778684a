package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// recordingBackend records every request it sees as "METHOD PATH BODY".
type recordingBackend struct {
	mu       sync.Mutex
	seen     []string
	inFlight atomic.Int32
}

func (rb *recordingBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rb.inFlight.Add(1)
	defer rb.inFlight.Add(-1)
	b, _ := io.ReadAll(r.Body)
	rb.mu.Lock()
	rb.seen = append(rb.seen, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+string(b)))
	rb.mu.Unlock()
	io.WriteString(w, "ok")
}

// take returns what was seen since the last call, once no request is
// being handled (a body the proxy aborted ends a little after the client
// connection).
func (rb *recordingBackend) take() []string {
	time.Sleep(20 * time.Millisecond)
	testkit.Poll(5*time.Second, func() bool { return rb.inFlight.Load() == 0 })
	rb.mu.Lock()
	defer rb.mu.Unlock()
	s := rb.seen
	rb.seen = nil
	return s
}

// smuggleCase is one attack: raw bytes a client sends on one connection,
// the requests the backend may see (anything else is a request the client
// did not send) and those it must see.
type smuggleCase struct {
	name    string
	raw     string
	allowed []string
	must    []string
}

const smuggled = "GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n"

func smuggleCases() []smuggleCase {
	inner := "GET /smuggled HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nx=1"
	return []smuggleCase{
		{name: "bad chunk size then request",
			raw:     "POST /bc HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + smuggled,
			allowed: []string{"POST /bc"}},
		{name: "bare LF chunk size",
			raw:     "POST /bc HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n" + smuggled,
			allowed: []string{"POST /bc", "POST /bc abc"}},
		{name: "bare LF after chunk data",
			raw:     "POST /bc HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n" + smuggled,
			allowed: []string{"POST /bc", "POST /bc abc"}},
		{name: "CL.TE",
			raw:     "POST /clte HTTP/1.1\r\nHost: app.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			allowed: []string{"POST /clte"}, must: []string{"POST /clte"}},
		{name: "TE.CL",
			raw: "POST /tecl HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
				fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(inner), inner) + smuggled,
			allowed: []string{"POST /tecl " + inner}, must: []string{"POST /tecl " + inner}},
		{name: "duplicate Content-Length",
			raw: "POST /dup HTTP/1.1\r\nHost: app.test\r\nContent-Length: 0\r\nContent-Length: 43\r\n\r\n" + smuggled},
		{name: "TE xchunked",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: xchunked\r\nContent-Length: 43\r\n\r\n" + smuggled},
		{name: "TE space before colon",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 43\r\n\r\n0\r\n\r\n" + smuggled[:len(smuggled)-5]},
		{name: "TE twice",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "TE list",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled},
		// RFC 9112 5.2: a folded line is part of the previous field's
		// value (net/http joins it with a space), so this is a request
		// framed by its Content-Length followed by a second request.
		{name: "TE folded",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nX-A: b\r\n Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" +
				"GET /smuggled HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
			allowed: []string{"POST /te 0", "GET /smuggled"}},
		{name: "TE vertical tab",
			raw: "POST /te HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n" + smuggled},
		{name: "space before colon in Host",
			raw: "GET /h HTTP/1.1\r\nHost : app.test\r\n\r\n" + smuggled},
		{name: "two Hosts",
			raw: "GET /h HTTP/1.1\r\nHost: app.test\r\nHost: other.test\r\n\r\n" + smuggled},
		{name: "invalid Host",
			raw: "GET /h HTTP/1.1\r\nHost: app.test/x y\r\n\r\n" + smuggled},
		{name: "pipelined with bodies",
			raw: "POST /p1 HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello" +
				"POST /p2 HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nworld" +
				"GET /p3 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n",
			allowed: []string{"POST /p1 hello", "POST /p2 world", "GET /p3"},
			must:    []string{"POST /p1 hello", "POST /p2 world", "GET /p3"}},
	}
}

// TestSmugglingEveryPath sends each attack on every HTTP path of the proxy
// (plain and TLS listeners; bodyless requests on the direct upstream
// writer, bodies and upgrades through ReverseProxy) and checks that the
// backend never sees a request the client did not send.
func TestSmugglingEveryPath(t *testing.T) {
	t.Parallel()
	rb := &recordingBackend{}
	be := newHTTPTestServer(t, rb)
	certFile, keyFile, roots := writeTestCert(t, t.TempDir())
	p := startProxy(t, stateDir(t), func(o *Options) {
		o.HTTPSAddr = "127.0.0.1:0"
		o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
	})
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))

	for _, listener := range []string{"plain", "tls"} {
		for _, upgrade := range []bool{false, true} {
			for _, c := range smuggleCases() {
				name := listener + "/" + c.name
				raw := c.raw
				if upgrade {
					name += "/upgrade"
					// The attack rides on an upgrade request (WebSocket).
					raw = strings.Replace(raw, "\r\nHost: app.test\r\n", "\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", 1)
				}
				var out string
				if listener == "plain" {
					out = rawExchange(t, p, raw)
				} else {
					out = rawTLSExchange(t, p.srv.HTTPSAddr().String(), roots, raw)
				}
				seen := rb.take()
				for _, s := range seen {
					if !slices.Contains(c.allowed, s) {
						t.Errorf("%s: the backend saw %q, which the client did not send as a request (allowed %q)\nclient got: %.300q", name, s, c.allowed, out)
					}
				}
				for _, s := range c.must {
					if !slices.Contains(seen, s) {
						t.Errorf("%s: the backend never saw %q (saw %q)\nclient got: %.300q", name, s, seen, out)
					}
				}
				if strings.Contains(out, "200 OK") && len(seen) == 0 {
					t.Errorf("%s: a 200 answer without a request at the backend: %.300q", name, out)
				}
			}
		}
	}
}

// rawTLSExchange is rawExchange over TLS.
func rawTLSExchange(t *testing.T, addr string, roots *x509.CertPool, raw string) string {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: roots, ServerName: "app.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return rawOn(c, raw)
}
