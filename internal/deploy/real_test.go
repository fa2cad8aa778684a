package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// appEnv makes the test binary act as a tiny web service (see TestMain).
const appEnv = "TUG_DEPLOY_TEST_APP"

func TestMain(m *testing.M) {
	if os.Getenv(appEnv) == "1" {
		os.Exit(testApp())
	}
	os.Exit(m.Run())
}

// testApp serves "release <TUG_RELEASE>" on $PORT, /healthz, and its
// APP_SECRET on /secret. It exits
// by itself after two minutes, so a test killed midway leaks nothing for
// long (instances outlive whoever started them, by design).
func testApp() int {
	time.AfterFunc(2*time.Minute, func() { os.Exit(0) })
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening on", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/secret", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, os.Getenv("APP_SECRET")) })
	var n atomic.Int64
	failTenths, _ := strconv.Atoi(os.Getenv("APP_FAIL_TENTHS"))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		if n.Add(1)%10 < int64(failTenths) {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "release %s\n", os.Getenv("TUG_RELEASE"))
	})
	return func() int { http.Serve(ln, mux); return 0 }()
}

// Real processes behind the real proxy: rolling, blue-green and canary
// deploys under steady traffic lose no request.
func TestRealProcessesDeployWithoutDroppingRequests(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())

	pdir := filepath.Join(dir, "p")
	px, err := proxy.New(proxy.Options{StateDir: pdir, HTTPAddr: "127.0.0.1:0", NoHandoff: true, NoAccessLog: true})
	if err != nil {
		t.Fatal(err)
	}
	pxDone := make(chan error, 1)
	go func() { pxDone <- px.Run(ctx) }()
	select {
	case <-px.Ready():
	case err := <-pxDone:
		t.Fatalf("proxy: %v", err)
	}
	t.Cleanup(func() { cancel(); <-pxDone })
	client := proxy.NewClient(proxy.ControlSocketPath(pdir))

	rt, err := runtime.NewProcess(runtime.ProcessOptions{StateDir: filepath.Join(dir, "rt")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	m, err := New(Options{Store: st, Runtimes: map[string]runtime.Runtime{"process": rt}, Router: client,
		RepoDir: repo, StateDir: filepath.Join(dir, "state"), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Shutdown(context.Background(), true)
		left, _ := rt.List(context.Background())
		for _, in := range left {
			t.Errorf("instance %s left running after Shutdown(stopServices)", in.ID)
			rt.Stop(context.Background(), in.ID, time.Second)
		}
		rt.Close()
	})
	svc := &config.Service{
		Run:      fmt.Sprintf("exec %q", os.Args[0]),
		Env:      map[string]string{appEnv: "1"},
		Replicas: 2, Routes: []string{"app.test"},
		Health: &config.Health{Path: "/healthz", Interval: config.Duration(100 * time.Millisecond), Timeout: config.Duration(time.Second)},
		Deploy: &config.DeployPolicy{Strategy: "rolling", DeployTimeout: config.Duration(20 * time.Second),
			DrainTimeout: config.Duration(5 * time.Second), RollbackWindow: config.Duration(time.Minute)},
	}
	m.SetConfig(configWith(svc))
	deploy := func() *Release {
		t.Helper()
		start := time.Now()
		rel, err := m.Deploy(ctx, Request{Service: "web"}, nil)
		if err != nil {
			t.Fatalf("deploy: %v", err)
		}
		t.Logf("%s deploy of %s took %s", svc.Deploy.Strategy, rel.ID, time.Since(start).Round(time.Millisecond))
		return rel
	}
	deploy()

	// Steady traffic through the proxy while deploys run.
	url := "http://" + px.HTTPAddr().String() + "/"
	var ok, bad atomic.Int64
	var lastBody atomic.Value
	var wg sync.WaitGroup
	stop := make(chan struct{})
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Host = "app.test"
				resp, err := hc.Do(req)
				if err != nil {
					bad.Add(1)
					lastBody.Store("error: " + err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					bad.Add(1)
					lastBody.Store(fmt.Sprintf("%d %s", resp.StatusCode, body))
					continue
				}
				ok.Add(1)
				lastBody.Store(string(body))
			}
		}()
	}
	deploy()
	svc.Deploy.Strategy = "blue-green"
	deploy()
	svc.Deploy.Strategy = "canary"
	svc.Deploy.Steps = []config.CanaryStep{{Weight: 50, Pause: config.Duration(100 * time.Millisecond)}}
	svc.Deploy.Analysis = &config.Analysis{MaxErrorRate: 0.01, MinRequests: 5}
	last := deploy()
	t.Logf("%d requests answered 200, %d failed during 3 deploys", ok.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Errorf("%d requests failed during deploys (last: %v)", bad.Load(), lastBody.Load())
	}

	// A canary answering 500 to 30% of requests is aborted at its first
	// analysis and traffic returns to the stable release.
	bad.Store(0)
	svc.Env["APP_FAIL_TENTHS"] = "3"
	start := time.Now()
	failed, err := m.Deploy(ctx, Request{Service: "web"}, nil)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "max_error_rate") {
		t.Fatalf("bad canary: %v", err)
	}
	t.Logf("bad canary %s aborted and rolled back in %s; clients saw %d errors", failed.ID, time.Since(start).Round(time.Millisecond), bad.Load())
	bad.Store(0)
	n := ok.Load()
	testkit.Eventually(t, 0, "requests answered after the rollback", func() bool { return ok.Load() >= n+20 })
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d requests failed after the rollback", bad.Load())
	}
	if ok.Load() < 20 {
		t.Errorf("only %d requests went through", ok.Load())
	}
	if got, _ := lastBody.Load().(string); !strings.Contains(got, "release "+last.ID) {
		t.Errorf("last answer %q, want from %s", got, last.ID)
	}
}
