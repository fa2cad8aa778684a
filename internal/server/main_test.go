package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/tugdev/tug/internal/proxy"
)

// fakeProxyArg, as the test binary's first argument, makes it the fake
// proxy: an argument rather than an environment variable, so the tests
// that start one can run in parallel.
const fakeProxyArg = "tug-fake-proxy"

// TestMain doubles as a fake `tug proxy` (see fakeProxyArg): it serves
// /healthz and /metrics on <state-dir>/proxy.sock until SIGTERM, so the
// supervisor can be tested without the real proxy.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == fakeProxyArg {
		os.Exit(fakeProxy(os.Args[2:]))
	}
	os.Exit(runTests(m))
}

func fakeProxy(args []string) int {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	state := fs.String("state-dir", "", "")
	httpAddr := fs.String("http", "", "")
	if len(args) > 0 && args[0] == "proxy" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sock := proxy.ControlSocketPath(*state)
	_ = os.MkdirAll(filepath.Join(*state, proxy.DataDirName), 0o700)
	_ = os.WriteFile(filepath.Join(*state, proxy.DataDirName, proxy.PIDFileName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"ok":true,"pid":%d,"http":%q}`+"\n", os.Getpid(), *httpAddr)
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP tug_proxy_requests_total Requests.\n# TYPE tug_proxy_requests_total counter\ntug_proxy_requests_total{service=\"web\"} 7\n"+
			"# HELP tug_server_up Clash.\n# TYPE tug_server_up gauge\ntug_server_up 42\n")
	})
	var mu sync.Mutex
	table := []byte(`{"version":0,"routes":[]}`)
	mux.HandleFunc("GET /table", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Write(table)
	})
	mux.HandleFunc("PUT /table", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		table = b
		mu.Unlock()
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "[]") })
	mux.HandleFunc("GET /backends", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "[]") })
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	fmt.Println("fake proxy serving", sock)
	_ = srv.Serve(ln)
	return 0
}

// fakeProxyArgv starts this test binary as the fake proxy.
func fakeProxyArgv(t *testing.T) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, fakeProxyArg, "proxy"}
}

// runTests runs the tests, then removes what they built once.
func runTests(m *testing.M) int {
	code := m.Run()
	cleanupBuilds()
	return code
}
