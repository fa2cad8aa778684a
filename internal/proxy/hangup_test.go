package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHangUpCancelsUpstreamEveryPath: a client that hangs up while its
// request waits on the backend cancels the backend's request, on every
// path: plain bodyless, plain with a complete body, TLS, and an upgrade.
func TestHangUpCancelsUpstreamEveryPath(t *testing.T) {
	t.Parallel()
	started := make(chan string, 8)
	canceled := make(chan string, 8)
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		started <- r.URL.Path
		select {
		case <-r.Context().Done():
			canceled <- r.URL.Path
		case <-time.After(30 * time.Second):
		}
	}))
	certFile, keyFile, roots := writeTestCert(t, t.TempDir())
	p := startProxy(t, stateDir(t), func(o *Options) {
		o.HTTPSAddr = "127.0.0.1:0"
		o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
	})
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	plainAddr := strings.TrimPrefix(p.url, "http://")
	tlsAddr := p.srv.HTTPSAddr().String()

	for _, c := range []struct {
		path string
		tls  bool
		raw  string
	}{
		{"/plain-get", false, "GET /plain-get HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{"/plain-post", false, "POST /plain-post HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello"},
		{"/tls-get", true, "GET /tls-get HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{"/tls-post", true, "POST /tls-post HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhello"},
		{"/upgrade", false, "GET /upgrade HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
	} {
		var conn net.Conn
		var err error
		if c.tls {
			conn, err = tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, ServerName: "app.test", NextProtos: []string{"http/1.1"}})
		} else {
			conn, err = net.Dial("tcp", plainAddr)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(conn, c.raw)
		select {
		case got := <-started:
			if got != c.path {
				t.Fatalf("%s: backend started %s", c.path, got)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the request never reached the backend", c.path)
		}
		conn.Close()
		select {
		case got := <-canceled:
			if got != c.path {
				t.Fatalf("%s: backend saw %s canceled", c.path, got)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the client hung up, the backend's request was never canceled", c.path)
		}
	}
}
