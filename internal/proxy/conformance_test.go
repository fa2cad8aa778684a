package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawExchange writes raw to the proxy and returns everything read until
// the proxy closes the connection or 2s of silence.
func rawExchange(t *testing.T, p *testProxy, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return rawOn(c, raw)
}

// rawOn is rawExchange on a connection already open (TLS), closing it.
func rawOn(c net.Conn, raw string) string {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	io.WriteString(c, raw)
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestKeepAlivePipelinedAndHTTP10(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))

	// Two pipelined requests, the second asks to close: two answers, then EOF.
	out := rawExchange(t, p, "GET /1 HTTP/1.1\r\nHost: app.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	if strings.Count(out, "HTTP/1.1 200 OK\r\n") != 2 || !strings.HasSuffix(out, "a") || !strings.Contains(out, "Connection: close\r\n") {
		t.Fatalf("pipelined: %q", out)
	}
	// HTTP/1.0 without keep-alive: one answer, connection closed.
	out = rawExchange(t, p, "GET / HTTP/1.0\r\nHost: app.test\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\na") {
		t.Fatalf("HTTP/1.0: %q", out)
	}
	// HEAD: headers only.
	out = rawExchange(t, p, "HEAD / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\n") {
		t.Fatalf("HEAD: %q", out)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	p := startProxy(t, stateDir(t), nil)
	if out := rawExchange(t, p, "GARBAGE\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Fatalf("garbage: %q", out)
	}
	if out := rawExchange(t, p, "GET / HTTP/1.1\r\n\r\n"); !strings.HasPrefix(out, "HTTP/1.1 400 ") {
		t.Fatalf("no Host: %q", out)
	}
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\n\r\n"
	if out := rawExchange(t, p, big); !strings.HasPrefix(out, "HTTP/1.1 431 ") {
		t.Fatalf("huge head: %.80q", out)
	}
}

// TestExpectContinueAndChunkedBodies: a POST announcing its body with
// Expect: 100-continue gets 100 Continue and is proxied; a chunked
// request body arrives whole; an answer of unknown length is chunked.
func TestExpectContinueAndChunkedBodies(t *testing.T) {
	t.Parallel()
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write([]byte("got:" + string(b)))
	}))
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))

	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue, got %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "got:hello" || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("%d %q %v", resp.StatusCode, b, resp.TransferEncoding)
	}
	// Same connection: a chunked request body.
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if string(b) != "got:abcde" || !resp.Close {
		t.Fatalf("chunked request: %d %q, close %v (a chunked request closes its connection)", resp.StatusCode, b, resp.Close)
	}
}
