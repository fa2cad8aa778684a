package proxy

import (
	"net/http"
	"os"
	"os/exec"
	"testing"
)

// TestProfileUnderWrk is a profiling harness, not a check: with
// TUG_PROXY_PROFILE=1 and wrk installed it drives the in-process proxy
// (access log on) for 5s, e.g.
//
//	TUG_PROXY_PROFILE=1 go test -run ProfileUnderWrk -cpuprofile cpu.out ./internal/proxy/
func TestProfileUnderWrk(t *testing.T) {
	t.Parallel()
	if os.Getenv("TUG_PROXY_PROFILE") == "" {
		t.Skip("set TUG_PROXY_PROFILE=1 to profile the proxy under wrk")
	}
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from the tug benchmark backend\n"))
	}))
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "127.0.0.1", mkPool("r1", 1, hostOf(be))))
	out, err := exec.Command("wrk", "-t2", "-c64", "-d5s", "--latency", p.url+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
