package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tugdev/tug/internal/testkit"
)

// dialIdle opens n connections to addr that send nothing.
func dialIdle(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	t.Cleanup(func() {
		for _, c := range cs {
			c.Close()
		}
	})
	return cs
}

// closedByPeer reports whether the proxy closed c within wait (after
// whatever answer it wrote).
func closedByPeer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !errors.As(err, &ne) || !ne.Timeout()
}

// TestConnectionCapAndPressure: past the cap the longest-waiting idle
// connection makes room for a new client, and above nine tenths of the
// cap waiting connections are closed after 1s; below half they stay.
func TestConnectionCapAndPressure(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	p := startProxy(t, stateDir(t), func(o *Options) { o.Limits.MaxConns = 20 })
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	addr := strings.TrimPrefix(p.url, "http://")

	few := dialIdle(t, addr, 5) // a quarter of the cap: no pressure
	time.Sleep(1500 * time.Millisecond)
	for i, c := range few {
		if closedByPeer(c, 10*time.Millisecond) {
			t.Fatalf("idle connection %d closed without pressure", i)
		}
	}
	many := dialIdle(t, addr, 30) // past the cap
	c := &http.Client{Timeout: 5 * time.Second}
	if code, body, _ := p.do(t, c, "GET", "app.test", "/", nil, nil); code != 200 || body != "a" {
		t.Fatalf("a new client past the cap: %d %q", code, body)
	}
	testkit.Eventually(t, 5*time.Second, "the oldest idle connections closed", func() bool {
		return closedByPeer(few[0], 10*time.Millisecond)
	})
	// Under pressure, waiting connections go within about a second.
	testkit.Eventually(t, 5*time.Second, "waiting connections closed under pressure", func() bool {
		return closedByPeer(many[len(many)-1], 10*time.Millisecond)
	})
	if n := p.srv.guard.open.Load(); n > 20 {
		t.Errorf("%d connections open, cap 20", n)
	}
}

// TestSlowBodyTimesOut: a client that stops sending its body mid-way
// ends its request; the backend sees its body fail instead of holding
// the connection.
func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	bodyErr := make(chan error, 1)
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		bodyErr <- err
	}))
	p := startProxy(t, stateDir(t), func(o *Options) { o.Limits.BodyReadTimeout = 300 * time.Millisecond })
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))
	c, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nx")
	select {
	case err := <-bodyErr:
		if err == nil {
			t.Fatal("the backend read a whole body the client never sent")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a body stalled mid-way still holds the backend after 10s")
	}
	if !closedByPeer(c, 5*time.Second) {
		t.Fatal("the stalled client's connection stays open")
	}
}

// TestHeadBounds: a head with too many lines or bytes is refused, and
// unfinished heads together stay within their budget.
func TestHeadBounds(t *testing.T) {
	t.Parallel()
	p := startProxy(t, stateDir(t), func(o *Options) { o.Limits.HeadBudget = 256 << 10 })
	lines := "GET / HTTP/1.1\r\nHost: app.test\r\n" + strings.Repeat("X-A: b\r\n", 300) + "\r\n"
	if out := rawExchange(t, p, lines); !strings.HasPrefix(out, "HTTP/1.1 4") {
		t.Fatalf("300 header lines: %.80q", out)
	}
	big := "GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"
	if out := rawExchange(t, p, big); !strings.HasPrefix(out, "HTTP/1.1 431 ") {
		t.Fatalf("100 KiB head: %.80q", out)
	}

	// 10 connections with 60 KiB of unfinished head each: 600 KiB
	// against a budget of 256 KiB.
	addr := strings.TrimPrefix(p.url, "http://")
	conns := dialIdle(t, addr, 10)
	line := "X-Pad: " + strings.Repeat("p", 1000) + "\r\n"
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n")
			for i := 0; i < 60; i++ {
				if _, err := io.WriteString(c, line); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	cut := 0
	for _, c := range conns {
		if closedByPeer(c, 500*time.Millisecond) {
			cut++
		}
	}
	if cut == 0 {
		t.Fatal("600 KiB of unfinished heads held against a 256 KiB budget")
	}
	if n := p.srv.guard.headBytes.Load(); n > 256<<10 {
		t.Fatalf("unfinished heads hold %d bytes, budget %d", n, 256<<10)
	}
}

// TestHeadMemoryAttack is the probe of the security review: many
// connections each sending a ~1 MB head that never ends. The proxy's heap
// must not grow with them.
func TestHeadMemoryAttack(t *testing.T) {
	p := startProxy(t, stateDir(t), nil)
	addr := strings.TrimPrefix(p.url, "http://")
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	const conns = 40
	cs := dialIdle(t, addr, conns)
	chunk := strings.Repeat("X-Pad: "+strings.Repeat("p", 1000)+"\r\n", 64) // 64 KiB
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n")
			for i := 0; i < 16; i++ { // 1 MiB
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	if grew > 24<<20 {
		t.Fatalf("%d connections with 1 MiB unfinished heads grew the heap by %d MiB", conns, grew>>20)
	}
}

// The fd-exhaustion test runs a proxy in a child process with a small
// descriptor limit (TestMain-free: the child is this test binary running
// only TestProxyChildProcess).
const childEnv = "TUG_PROXY_TEST_CHILD"

// TestProxyChildProcess is the child: a proxy with RLIMIT_NOFILE 128 in
// the state directory named by the environment, serving until killed.
func TestProxyChildProcess(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestFDExhaustion")
	}
	rl := syscall.Rlimit{Cur: 128, Max: 128}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{StateDir: dir, HTTPAddr: "127.0.0.1:" + os.Getenv(childEnv+"_PORT"), ShutdownTimeout: time.Second, NoAccessLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		<-srv.Ready()
		os.WriteFile(filepath.Join(dir, "ready-"+fmt.Sprint(os.Getpid())), []byte(srv.HTTPAddr().String()), 0o644)
	}()
	if err := srv.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func startChild(t *testing.T, dir, port string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+dir, childEnv+"_PORT="+port)
	out, _ := os.Create(filepath.Join(dir, "child.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	ready := filepath.Join(dir, "ready-"+fmt.Sprint(cmd.Process.Pid))
	testkit.Eventually(t, 20*time.Second, "child proxy ready", func() bool {
		_, err := os.Stat(ready)
		return err == nil
	})
	return cmd
}

// TestFDExhaustion: 300 idle connections against a proxy allowed 128
// descriptors. New requests are still served, the control socket still
// answers, and a new proxy still takes the sockets over.
func TestFDExhaustion(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip()
	}
	be := namedBackend(t, "a")
	dir := stateDir(t)
	startChild(t, dir, "0")
	addrB, _ := os.ReadFile(firstReady(t, dir))
	addr := string(addrB)
	client := NewClient(ControlSocketPath(dir))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.Apply(ctx, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be)))); err != nil {
		t.Fatal(err)
	}

	dialIdle(t, addr, 300)
	get := func() error {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Host = "app.test"
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "a" {
			return fmt.Errorf("%d %q", resp.StatusCode, b)
		}
		return nil
	}
	if err := get(); err != nil {
		t.Fatalf("a request with 300 idle connections open: %v", err)
	}
	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	if _, err := client.Health(hctx); err != nil {
		t.Fatalf("control socket with 300 idle connections open: %v", err)
	}
	hcancel()
	// A new proxy takes the sockets over from the loaded one.
	_, port, _ := net.SplitHostPort(addr)
	next := startChild(t, dir, port)
	h, err := client.Health(ctx)
	if err != nil || h.PID != next.Process.Pid {
		t.Fatalf("after handoff the control socket answers %+v, %v; want the new proxy %d\n%s", h, err, next.Process.Pid, readFile(dir, "child.log"))
	}
	if err := get(); err != nil {
		t.Fatalf("a request after the handoff: %v", err)
	}
}

func firstReady(t *testing.T, dir string) string {
	m, _ := filepath.Glob(filepath.Join(dir, "ready-*"))
	if len(m) == 0 {
		t.Fatal("no ready file")
	}
	return m[0]
}

func readFile(dir, name string) string {
	b, _ := os.ReadFile(filepath.Join(dir, name))
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	var last []string
	for sc.Scan() {
		last = append(last, sc.Text())
		if len(last) > 20 {
			last = last[1:]
		}
	}
	return strings.Join(last, "\n")
}

// TestServeErrorsLoggedOnceRateLimited: a flood of the same serve error
// (here: failed TLS handshakes, which net/http reports through the error
// log) is logged once per interval with a count of the ones held back.
func TestServeErrorsLoggedOnceRateLimited(t *testing.T) {
	t.Parallel()
	log, buf := testkit.Logger()
	clock := testkit.NewClock(time.Unix(1000, 0))
	r := newRateLog(log, 10*time.Second)
	r.now = clock.Now
	for i := 0; i < 50; i++ {
		fmt.Fprintf(r, "http: TLS handshake error from 127.0.0.1:%d: EOF\n", 40000+i)
	}
	if n := strings.Count(buf.String(), "TLS handshake error"); n != 1 {
		t.Fatalf("%d lines for 50 errors in one interval:\n%s", n, buf)
	}
	clock.Advance(11 * time.Second)
	fmt.Fprintf(r, "http: TLS handshake error from 127.0.0.1:1: EOF\n")
	if !strings.Contains(buf.String(), "suppressed_since_last=49") {
		t.Fatalf("the next interval's line does not count the held-back ones:\n%s", buf)
	}
}

// TestUpgradedConnectionsCount: a WebSocket holds a client connection
// (and a backend one) until it closes, so it counts toward the cap.
func TestUpgradedConnectionsCount(t *testing.T) {
	t.Parallel()
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Read(r.Context())
	}))
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "127.0.0.1", mkPool("r1", 1, hostOf(be))))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.url, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "the upgraded connection counted", func() bool { return p.srv.guard.open.Load() == 1 })
	c.CloseNow()
	testkit.Eventually(t, 5*time.Second, "the closed upgrade uncounted", func() bool { return p.srv.guard.open.Load() == 0 })
}
