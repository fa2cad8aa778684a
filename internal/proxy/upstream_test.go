package proxy

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamKeepAlive: sequential requests reuse one backend connection.
func TestUpstreamKeepAlive(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	for i := 0; i < 50; i++ {
		if code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 200 {
			t.Fatalf("request %d: %d", i, code)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("50 sequential requests opened %d backend connections, want 1", n)
	}
}

// TestUpstreamStaleConnection: a backend that closes kept-alive
// connections without saying so costs no failed request.
func TestUpstreamStaleConnection(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	closed := make(chan struct{}, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { c.Close(); closed <- struct{}{} }()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
				// Closes without "Connection: close".
			}()
		}
	}()
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, l.Addr().String())))
	for i := 0; i < 10; i++ {
		if code, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		<-closed // the upstream closed the connection the proxy keeps
	}
}
