package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/testkit"
)

const minimalYAML = "version: 1\nproject: demo\nservices:\n  web: {run: ./web, routes: [web.localhost]}\nenvironments:\n  staging: {}\n"

func writeConfig(t *testing.T, dir, src string) string {
	t.Helper()
	p := filepath.Join(dir, "tug.yaml")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// running is a server started in this process.
type running struct {
	info   Info
	cancel context.CancelFunc
	done   chan error
	logs   *testkit.SyncBuffer
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("server stopped with %v\nlogs:\n%s", err, r.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop\nlogs:\n%s", r.logs)
	}
}

// startServer runs Run in a goroutine and waits until it is ready.
func startServer(t *testing.T, opts Options) *running {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ready := make(chan Info, 1)
	opts.Ready = func(i Info) { ready <- i }
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- Run(ctx, opts) }()
	select {
	case r.info = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("server did not start: %v\nlogs:\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("server not ready\nlogs:\n%s", logs)
	}
	return r
}

// stopProxyAfter makes sure a proxy started under dir is gone at the end.
func stopProxyAfter(t *testing.T, dir string) {
	t.Cleanup(func() {
		px := newProxySupervisor(dir, nil, slog.New(slog.DiscardHandler))
		_ = px.stop(5 * time.Second)
	})
}

func TestServerLifecycleWithFakeProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	cfgPath := writeConfig(t, dir, minimalYAML)
	stopProxyAfter(t, state)
	opts := Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t), ListenAddr: "127.0.0.1:0", InsecureNoAuth: true, Debounce: 20 * time.Millisecond}

	first := startServer(t, opts)
	pidBytes, err := os.ReadFile(filepath.Join(state, PIDFile))
	if err != nil || strings.TrimSpace(string(pidBytes)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("server.pid = %q, %v", pidBytes, err)
	}
	proxyPID, _ := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(state, "proxy", "proxy.pid"))))
	if !kit.Alive(proxyPID) {
		t.Fatalf("proxy pid %d not running; logs:\n%s", proxyPID, first.logs)
	}

	// A second server on the same state directory is refused, clearly.
	err = Run(context.Background(), opts)
	if !errors.Is(err, ErrRunning) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) || !strings.Contains(err.Error(), state) {
		t.Fatalf("second server: %v", err)
	}

	// The socket is the local admin's alone.
	if fi, err := os.Stat(first.info.Socket); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("the API socket: %v, want a socket with mode 0600", fi.Mode())
	}

	// The API answers on the socket; /metrics merges proxy and server.
	c := api.NewClient(first.info.Socket)
	ctx := context.Background()
	h, err := c.Health(ctx)
	if err != nil || h.PID != os.Getpid() || h.StateDir != state {
		t.Fatalf("health: %+v %v", h, err)
	}
	if h, err := api.NewClient("http://" + first.info.Listen).Health(ctx); err != nil || h.PID != os.Getpid() {
		t.Fatalf("health over --listen %q: %+v %v", first.info.Listen, h, err)
	}
	m, err := c.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m, `tug_proxy_requests_total{service="web"} 7`) || !strings.Contains(m, "tug_server_up 1") ||
		strings.Contains(m, "tug_server_up 42") || strings.Count(m, "# TYPE tug_server_up") != 1 {
		t.Fatalf("metrics:\n%s", m)
	}

	// An edited tug.yaml is picked up by the watcher; a broken one is
	// refused by apply with positions and changes nothing.
	writeConfig(t, dir, strings.Replace(minimalYAML, "demo", "demo2", 1))
	var st *api.StatusResponse
	if !testkit.Poll(20*time.Second, func() bool { st, err = c.Status(ctx); return err == nil && st.Project == "demo2" }) {
		t.Fatalf("the watcher did not apply the edited file: %+v %v\nlogs:\n%s", st, err, first.logs)
	}
	writeConfig(t, dir, "version: 1\nservices:\n  web: {replicas: many}\n")
	_, err = c.Apply(ctx)
	var apiErr *endpoint.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || len(apiErr.Details) == 0 || apiErr.Details[0].Line != 3 {
		t.Fatalf("apply of a broken file: %v", err)
	}
	if st, err := c.Status(ctx); err != nil || st.Project != "demo2" {
		t.Fatalf("a broken file replaced the config: %+v %v", st, err)
	}
	writeConfig(t, dir, minimalYAML)

	// Stopping leaves the proxy running; the next server adopts it.
	first.stop(t)
	if _, err := os.Stat(filepath.Join(state, PIDFile)); !os.IsNotExist(err) {
		t.Fatalf("server.pid left behind: %v", err)
	}
	if !kit.Alive(proxyPID) {
		t.Fatal("stopping the server stopped the proxy")
	}
	opts.StopServices = true
	second := startServer(t, opts)
	if !strings.Contains(second.logs.String(), "adopted the running proxy") {
		t.Fatalf("second server did not adopt the proxy; logs:\n%s", second.logs)
	}
	second.stop(t)
	testkit.Eventually(t, 10*time.Second, "--stop-services to stop the proxy", func() bool { return !kit.Alive(proxyPID) })
}

func TestServerRestartsADeadProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	px := newProxySupervisor(state, append(fakeProxyArgv(t), "--state-dir", state), slog.New(slog.DiscardHandler))
	px.interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := px.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first := px.readPID()
	go px.supervise(ctx)
	if err := sendSignal(first, true); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "the supervisor to restart the killed proxy", func() bool {
		pid := px.readPID()
		return pid != 0 && pid != first && px.healthy(ctx)
	})
}

func TestBadConfigAtStartIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "version: 1\nservices:\n  web: {replicas: many}\n")
	err := Run(context.Background(), Options{ConfigPath: cfgPath, StateDir: filepath.Join(dir, ".tug")})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "tug.yaml:3") {
		t.Fatalf("got %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
