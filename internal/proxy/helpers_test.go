package proxy

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// testProxy is one in-process proxy with its control client.
type testProxy struct {
	srv    *Server
	client *Client
	url    string        // http://127.0.0.1:port
	stop   func()        // cancels Run and waits for it
	exited chan struct{} // closed when Run returned
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TUG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startProxy runs a Server on a loopback port with state in dir.
func startProxy(t testing.TB, dir string, mod func(*Options)) *testProxy {
	t.Helper()
	opts := Options{Logger: testLogger(t), StateDir: dir, HTTPAddr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- srv.Run(ctx); close(exited) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("proxy did not start: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("proxy not ready after 20s")
	}
	p := &testProxy{srv: srv, client: NewClient(ControlSocketPath(dir)), exited: exited}
	if a := srv.HTTPAddr(); a != nil {
		p.url = "http://" + a.String()
	}
	stopped := false
	p.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("proxy Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("proxy did not stop within 20s")
		}
	}
	t.Cleanup(p.stop)
	return p
}

// stateDir is a short temp dir: unix socket paths are limited to ~108 bytes.
func stateDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "tugp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// namedBackend answers every request with its name (body and X-Backend).
func namedBackend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Backend", name)
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// oneRoute is a table with one route for host to the given pools.
func oneRoute(version int64, host string, pools ...*Pool) *Table {
	return &Table{Version: version, Routes: []*Route{{Host: host, Service: "web", Environment: "prod", Pools: pools}}}
}

func mkPool(release string, weight int, addrs ...string) *Pool {
	p := &Pool{Release: release, Weight: weight}
	for i, a := range addrs {
		p.Backends = append(p.Backends, &Backend{Instance: release + "-" + string(rune('a'+i)), Addr: a})
	}
	return p
}

func (p *testProxy) apply(t testing.TB, tab *Table) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.client.Apply(ctx, tab); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// do sends method to path with Host host through the proxy and returns the
// status, body and X-Backend header.
func (p *testProxy) do(t *testing.T, c *http.Client, method, host, path string, body io.Reader, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

type httptestServer = httptest.Server

func newHTTPTestServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}
