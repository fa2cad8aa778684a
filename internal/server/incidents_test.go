package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

const statusYAML = `version: 1
project: shop
services:
  web:
    run: %s
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["web.localhost"]
    deploy: {strategy: rolling, drain_timeout: 1s}
incidents:
  status_page: {route: "status.localhost/status", title: Shop status}
`

// TestStatusPageThroughTheProxy: the status page's route reaches the
// page through the real proxy, showing an open incident's public note
// and its service down; under that route no request reaches the API.
func TestStatusPageThroughTheProxy(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	proxyAddr := testkit.FreeAddr(t)
	srv := startServer(t, Options{ConfigPath: writeConfig(t, dir, fmt.Sprintf(statusYAML, app)), StateDir: state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inc, err := c.OpenIncident(ctx, incident.OpenRequest{Title: "internal detail: db-7 died", Severity: "P0", Service: "web", By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NoteIncident(ctx, inc.ID, incident.NoteRequest{By: "ann", Text: "Checkout is down, we are on it.", Public: true}); err != nil {
		t.Fatal(err)
	}
	fetch := func(method, path string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+proxyAddr+path, strings.NewReader("{}"))
		req.Host = "status.localhost"
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var page string
	if !testkit.Poll(20*time.Second, func() bool {
		code, body := fetch("GET", "/status/")
		page = body
		return code == 200 && strings.Contains(body, "Checkout is down, we are on it.")
	}) {
		t.Fatalf("status page through the proxy: %s\nlogs:\n%s", page, srv.logs)
	}
	if !strings.Contains(page, `<span class="down">down`) || strings.Contains(page, "db-7") {
		t.Errorf("page:\n%s", page)
	}
	for _, path := range []string{"/status/api/health", "/status/api/incidents"} {
		if code, body := fetch("GET", path); code != 200 || strings.Contains(body, `"pid"`) || strings.Contains(body, "db-7") {
			t.Errorf("GET %s via the status route: %d %s", path, code, body)
		}
	}
	if code, _ := fetch("POST", "/status/api/incidents"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST via the status route answered %d", code)
	}
}

// TestIncidentChangeSources: the releases, the flag history and tug's own
// log feed incident timelines with the service's deploys, approvals,
// rollbacks, flag changes, config applies and restarts, and nothing of
// other services.
func TestIncidentChangeSources(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().UTC().Add(-10 * time.Minute)
	for _, r := range []*store.Release{
		{Service: "web", Environment: "prod", Revision: "aaaaaaaaaaaaaaaa", Who: "ann", CreatedAt: t0, Status: deploy.StatusRolledBack,
			Strategy: "canary", FinishedAt: t0.Add(2 * time.Minute), Reason: "rolled back to r0 by tug", ApprovedBy: "ben", ApprovedAt: t0.Add(time.Second)},
		{Service: "db", Environment: "prod", CreatedAt: t0, Status: deploy.StatusLive},
	} {
		if err := st.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.ChangeFlag(ctx, "", nil, &store.FlagChange{Time: t0.Add(time.Minute), Flag: "new-checkout", Environment: "prod",
		Services: []string{"web"}, Kind: "set", Who: "cat", After: `{"variant":"on"}`}); err != nil {
		t.Fatal(err)
	}
	lg, err := logs.New(ctx, logs.Options{StateDir: dir, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	done := make(chan struct{})
	go func() { defer close(done); lg.Run(ctx) }()
	defer func() { cancel(); <-done }()
	log := slog.New(logs.Handler(slog.DiscardHandler, lg))
	log.Info("config applied", "file", "tug.yaml", "hash", "0123456789ab")
	log.Warn("instance exited", "instance", "web-prod-r1-1", "exit", "exit status 2", "restart_in", "1s")
	log.Error("instance is crash-looping", "instance", "web-prod-r1-1", "crashes", 5)
	log.Warn("instance exited", "instance", "db-prod-r2-1", "exit", "exit status 1")

	var got []string
	from, to := t0.Add(-time.Minute), time.Now().Add(time.Minute)
	testkit.Eventually(t, 10*time.Second, "the log lines", func() bool {
		got = nil
		for _, src := range []incident.ChangeSource{releaseChanges{st: st}, flagChanges{st: st}, logChanges{lg: lg}} {
			cs, err := src.Changes(ctx, "web", "prod", from, to)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cs {
				got = append(got, c.Kind+": "+c.Text)
			}
		}
		return len(got) >= 7
	})
	want := []string{
		"deploy: deploy r1 of web to prod started by ann (canary, aaaaaaaaaaaa)",
		"approval: release r1 of web approved by ben",
		"rollback: release r1 of web rolled back to r0 by tug",
		`flag: flag new-checkout in prod: set by cat, now {"variant":"on"}`,
		"config: config applied file=tug.yaml hash=0123456789ab",
		"restart: instance exited instance=web-prod-r1-1 exit=\"exit status 2\" restart_in=1s",
		"crash_loop: instance is crash-looping instance=web-prod-r1-1 crashes=5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRemediationWaitsWhileAReleaseAwaitsApprovalOrDeploys: the server's
// remediation actions say a service is busy (so tug acts on nothing)
// while one of its releases awaits approval or is being deployed in that
// environment, and not otherwise.
func TestRemediationWaitsWhileAReleaseAwaitsApprovalOrDeploys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Now().UTC().Add(-time.Hour)
	for i, r := range []*store.Release{
		{Service: "web", Environment: "prod", Status: deploy.StatusLive},
		{Service: "web", Environment: "prod", Status: deploy.StatusAwaiting},
		{Service: "api", Environment: "prod", Status: deploy.StatusLive},
		{Service: "api", Environment: "prod", Status: deploy.StatusDeploying},
		{Service: "db", Environment: "prod", Status: deploy.StatusLive},
		{Service: "db", Environment: "staging", Status: deploy.StatusAwaiting},
	} {
		r.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		if err := st.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	a := &incidentActions{st: st, config: func() *config.Config { return &config.Config{} }}
	for _, tc := range []struct{ service, env, want string }{
		{"web", "prod", "awaits approval"},
		{"api", "prod", "is being deployed"},
		{"db", "prod", ""}, // staging's wait is not prod's
	} {
		got, err := a.Busy(ctx, tc.service, tc.env)
		if err != nil || (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s/%s: busy %q, %v; want %q", tc.service, tc.env, got, err, tc.want)
		}
	}
}
