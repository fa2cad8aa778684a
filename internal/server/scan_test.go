package server

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/scan"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// writeAdvisory writes one OSV record against lodash below fixed.
func writeAdvisory(t *testing.T, dir, id, name, fixed string) {
	t.Helper()
	rec := map[string]any{
		"id": id, "modified": "2026-01-01T00:00:00Z", "summary": "test advisory",
		"affected": []any{map[string]any{
			"package": map[string]string{"ecosystem": "npm", "name": name},
			"ranges":  []any{map[string]any{"type": "SEMVER", "events": []any{map[string]string{"introduced": "0"}, map[string]string{"fixed": fixed}}}},
		}},
		"database_specific": map[string]string{"severity": "HIGH"},
	}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// After a release is live, an advisory added to the database raises
// tug_scan_findings for its service, which the default pack's
// VulnerableRelease rule alerts on.
func TestRescanOfLiveReleaseAfterDatabaseUpdate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	state := t.TempDir()
	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	relDir := filepath.Join(state, "releases", "r1")
	if err := os.MkdirAll(relDir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/lodash": {"version": "4.17.15"}}}`
	if err := os.WriteFile(filepath.Join(relDir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRelease(ctx, &store.Release{Service: "web", Environment: "production", Status: "live", Dir: relDir}); err != nil {
		t.Fatal(err)
	}
	adv := t.TempDir()
	writeAdvisory(t, adv, "GHSA-other", "left-pad", "1.3.0")
	dbDir := filepath.Join(t.TempDir(), "db")
	if _, err := scan.BuildDB(dbDir, []string{adv}, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{File: filepath.Join(state, "tug.yaml"), ServiceOrder: []string{"web"},
		Services: map[string]*config.Service{"web": {}}, Scan: &config.Scan{Database: dbDir, Rescan: config.Duration(time.Second)}}
	reg := prometheus.NewRegistry()
	logger, _ := testkit.Logger()
	r := newRescanner(st, func() *config.Config { return cfg }, state, reg, func(string) (string, bool) { return "", false }, logger)
	r.poll = 20 * time.Millisecond
	go r.run(ctx)
	high := func() float64 { return testutil.ToFloat64(r.gauge.WithLabelValues("web", "production", "high")) }
	testkit.Eventually(t, 10*time.Second, "the first rescan", func() bool {
		n, _ := testutil.GatherAndCount(reg, "tug_scan_findings")
		return n > 0
	})
	if v := high(); v != 0 {
		t.Fatalf("before the advisory: high = %v", v)
	}
	writeAdvisory(t, adv, "GHSA-lodash", "lodash", "4.17.21")
	if _, err := scan.BuildDB(dbDir, []string{adv}, "test", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the rescan after the database update", func() bool { return high() == 1 })

	// The fix deployed (here: written into the release copy) is seen by
	// the next scheduled rescan, with no database change.
	fixed := strings.Replace(lock, "4.17.15", "4.17.21", 1)
	if err := os.WriteFile(filepath.Join(relDir, "package-lock.json"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the scheduled rescan", func() bool { return high() == 0 })
	if _, err := os.Stat(filepath.Join(state, rescanScheduleFile)); err != nil {
		t.Errorf("the schedule keeps no last tick: %v", err)
	}

	// P1 for a critical finding, P2 for a high one.
	rules := map[string]string{}
	for _, r := range alert.ServicePack("web") {
		if r.Alert == "VulnerableRelease" {
			rules[r.Labels["severity"]] = r.Expr
		}
	}
	want := map[string]string{
		"P1": `tug_scan_findings{service="web",severity="critical"} > 0`,
		"P2": `tug_scan_findings{service="web",severity="high"} > 0`,
	}
	if !maps.Equal(rules, want) {
		t.Errorf("VulnerableRelease rules = %q, want %q", rules, want)
	}
}

// TestEndToEndNewAdvisoryAlertsOnLiveService deploys a service whose
// release has a dependency no advisory names yet; once the database gains
// one, the server's rescan fires VulnerableRelease (P2 for high) on that
// service through the alerting room.
func TestEndToEndNewAdvisoryAlertsOnLiveService(t *testing.T) {
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/lodash": {"version": "4.17.15"}}}`
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	adv := t.TempDir()
	writeAdvisory(t, adv, "GHSA-other", "left-pad", "1.3.0")
	dbDir := filepath.Join(t.TempDir(), "db")
	if _, err := scan.BuildDB(dbDir, []string{adv}, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`version: 1
project: scan
monitoring: {scrape_interval: 1s, evaluation_interval: 1s}
scan: {database: %s}
services:
  web:
    run: %s
    env: {VERSION: v1}
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["web.localhost"]
    deploy: {strategy: rolling, drain_timeout: 1s}
`, dbDir, app))
	srv := startServer(t, Options{
		ConfigPath: cfgPath, StateDir: state, HTTPAddr: testkit.FreeAddr(t),
		ProxyCommand: []string{tug, "proxy"}, StopServices: true,
	})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Deploy(ctx, api.DeployRequest{Service: "web", Who: "e2e"}, nil); err != nil {
		t.Fatalf("deploy: %v\nlogs:\n%s", err, srv.logs)
	}
	firing := func() *alert.Alert {
		alerts, err := c.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			if a.Name == "VulnerableRelease" && a.Labels["service"] == "web" && a.State == "firing" {
				return a
			}
		}
		return nil
	}
	if a := firing(); a != nil {
		t.Fatalf("an alert before any advisory names the release: %+v", a)
	}
	writeAdvisory(t, adv, "GHSA-lodash", "lodash", "4.17.21")
	if _, err := scan.BuildDB(dbDir, []string{adv}, "test", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	var got *alert.Alert
	testkit.Eventually(t, time.Minute, "VulnerableRelease firing on web", func() bool {
		got = firing()
		return got != nil
	})
	if got.Severity != "P2" || got.Labels["environment"] == "" {
		t.Errorf("alert = %+v", got)
	}
}
