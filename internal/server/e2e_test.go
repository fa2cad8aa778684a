package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/testkit"
)

// e2eYAML declares one service per strategy, all running the test app.
const e2eYAML = `version: 1
project: e2e
services:
  rolling:
    run: %[1]s
    replicas: 2
    env: {VERSION: %[2]s}
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["rolling.localhost"]
    deploy: {strategy: rolling, drain_timeout: 2s}
  bluegreen:
    run: %[1]s
    env: {VERSION: %[2]s}
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["bluegreen.localhost"]
    deploy: {strategy: blue-green, drain_timeout: 2s}
  canary:
    run: %[1]s
    env: {VERSION: %[2]s}
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["canary.localhost"]
    deploy:
      strategy: canary
      drain_timeout: 2s
      steps: [{weight: 50, pause: 300ms}, {weight: 100}]
environments:
  staging: {}
`

// get asks the proxy for host's root page.
func get(ctx context.Context, proxyAddr, host string) (string, error) {
	return getPath(ctx, proxyAddr, host, "/")
}

// getPath asks the proxy for host's path.
func getPath(ctx context.Context, proxyAddr, host, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proxyAddr+path, nil)
	if err != nil {
		return "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return strings.TrimSpace(string(b)), err
}

// TestEndToEndDeploysEveryStrategy runs the server in-process with the
// real `tug proxy` and process runtime, deploys v1 and then v2 of one
// service per strategy, checks the proxy serves each new version, and
// rolls one back.
func TestEndToEndDeploysEveryStrategy(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, fmt.Sprintf(e2eYAML, app, "v1"))
	proxyAddr := testkit.FreeAddr(t)
	srv := startServer(t, Options{
		ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true,
	})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	services := []string{"rolling", "bluegreen", "canary"}
	deployAll := func(want string) {
		t.Helper()
		for _, svc := range services {
			var phases []string
			rel, err := c.Deploy(ctx, api.DeployRequest{Service: svc, Who: "e2e"}, func(e deploy.Event) { phases = append(phases, e.Phase) })
			if err != nil {
				t.Fatalf("deploy %s %s: %v\nphases %v\nrelease %+v\nlogs:\n%s", svc, want, err, phases, rel, srv.logs)
			}
			if rel.Status != deploy.StatusLive || len(phases) == 0 {
				t.Fatalf("deploy %s: release %+v, phases %v", svc, rel, phases)
			}
			got, err := get(ctx, proxyAddr, svc+".localhost")
			if err != nil || got != "version="+want {
				t.Fatalf("%s via the proxy: %q %v (want version=%s)\nlogs:\n%s\nproxy log:\n%s", svc, got, err, want, srv.logs, tail(filepath.Join(state, "proxy", "proxy.log"), 20))
			}
		}
	}
	deployAll("v1")

	// A new version in tug.yaml, applied through the API, deploys as v2.
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(e2eYAML, app, "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	deployAll("v2")

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Live {
		if len(s.Live) != 1 || s.Live[0].Weight != 100 || len(s.Instances) == 0 {
			t.Errorf("status of %s/%s after deploys: %+v", s.Service, s.Environment, s)
		}
	}

	// Rolling back goes to v1 again.
	rel, err := c.Rollback(ctx, api.RollbackRequest{Service: "canary", Who: "e2e"}, nil)
	if err != nil {
		t.Fatalf("rollback: %v %+v", err, rel)
	}
	if got, err := get(ctx, proxyAddr, "canary.localhost"); err != nil || got != "version=v1" {
		t.Fatalf("after rollback: %q %v", got, err)
	}
	rels, err := c.Releases(ctx, "canary", "staging")
	if err != nil || len(rels) < 2 {
		t.Fatalf("releases: %v %+v", err, rels)
	}
}

// TestEndToEndRestartAdoptsServices stops the server without
// --stop-services: the proxy keeps serving the service while no server
// runs, and the next server adopts the instances and deploys on top. The
// next server is told another proxy address: the proxy moves there.
func TestEndToEndRestartAdoptsServices(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, fmt.Sprintf(e2eYAML, app, "v1"))
	proxyAddr := testkit.FreeAddr(t)
	opts := Options{ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr, ProxyCommand: []string{tug, "proxy"}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	first := startServer(t, opts)
	if _, err := api.NewClient(first.info.Socket).Deploy(ctx, api.DeployRequest{Service: "rolling"}, nil); err != nil {
		t.Fatalf("deploy: %v\nlogs:\n%s", err, first.logs)
	}
	first.stop(t)

	// No server: traffic still flows.
	if got, err := get(ctx, proxyAddr, "rolling.localhost"); err != nil || got != "version=v1" {
		t.Fatalf("while the server is down: %q %v", got, err)
	}

	opts.StopServices = true
	oldAddr := proxyAddr
	proxyAddr = testkit.FreeAddr(t)
	opts.HTTPAddr = proxyAddr
	second := startServer(t, opts)
	t.Cleanup(func() { second.stop(t) })
	if !strings.Contains(second.logs.String(), "replacing it") {
		t.Errorf("the proxy on the old address was not replaced; logs:\n%s", second.logs)
	}
	if got, err := get(ctx, proxyAddr, "rolling.localhost"); err != nil || got != "version=v1" {
		t.Fatalf("on the new proxy address: %q %v\nlogs:\n%s", got, err, second.logs)
	}
	// The old proxy hands over and exits: its address goes quiet.
	testkit.Eventually(t, 30*time.Second, "the old address "+oldAddr+" to go quiet", func() bool {
		c, err := net.DialTimeout("tcp", oldAddr, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	c := api.NewClient(second.info.Socket)
	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	adopted := 0
	for _, s := range st.Live {
		if s.Service == "rolling" {
			adopted = len(s.Instances)
		}
	}
	if adopted != 2 {
		t.Fatalf("the new server adopted %d instances, want 2: %+v\nlogs:\n%s", adopted, st.Live, second.logs)
	}
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(e2eYAML, app, "v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deploy(ctx, api.DeployRequest{Service: "rolling"}, nil); err != nil {
		t.Fatalf("deploy after restart: %v\nlogs:\n%s", err, second.logs)
	}
	if got, err := get(ctx, proxyAddr, "rolling.localhost"); err != nil || got != "version=v2" {
		t.Fatalf("after restart and deploy: %q %v", got, err)
	}
}
