package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// strategiesYAML declares one service per strategy, all running the test
// app, with short timings so a deploy takes a second or two.
const strategiesYAML = `version: 1
project: e2e
services:
  rolling:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    replicas: 2
    routes: ["rolling.test"]
    deploy: {strategy: rolling, deploy_timeout: 15s, drain_timeout: 5s, rollback_window: 1s}
  bluegreen:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    replicas: 2
    routes: ["bluegreen.test"]
    deploy:
      strategy: blue-green
      smoke: {path: /healthz, expect_status: 200}
      deploy_timeout: 15s
      drain_timeout: 5s
      rollback_window: 1s
  canary:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    replicas: 2
    routes: ["canary.test"]
    deploy:
      strategy: canary
      steps: [{weight: 25, pause: 1s}, {weight: 100}]
      analysis: {max_error_rate: 0.05, min_requests: 20}
      deploy_timeout: 20s
      drain_timeout: 5s
      rollback_window: 1s
`

var strategies = []struct{ service, host string }{
	{"rolling", "rolling.test"},
	{"bluegreen", "bluegreen.test"},
	{"canary", "canary.test"},
}

// loadRate is the request rate kept on the proxy during deploys.
const loadRate = 250

// TestZeroDowntime: ten deploys of each strategy back to back, alternating
// two versions, under a steady load: no request fails and the version
// served changes as each deploy completes.
func TestZeroDowntime(t *testing.T) {
	// Not parallel: the load must reach its rate, so it gets the machine.
	p := newProject(t, strategiesYAML, goodVersions())
	p.startServer()
	for _, s := range strategies {
		t.Run(s.service, func(t *testing.T) {
			p.deploy(s.service, "v1")
			l := startLoad(p.httpAddr, s.host, loadRate, 10, 3*time.Minute)
			if !l.waitVersion("v1", 10, 10*time.Second) {
				l.stop()
				t.Fatalf("v1 not served after the first deploy; recent: %v", l.recent(10))
			}
			for i := 0; i < 10; i++ {
				want := []string{"v2", "v1"}[i%2]
				p.deploy(s.service, want)
				if !l.waitVersion(want, 20, 5*time.Second) {
					l.stop()
					t.Fatalf("deploy %d: %s not served after the deploy returned; recent: %v", i+1, want, l.recent(20))
				}
			}
			l.stop()
			total, failed, rate, samples := l.result()
			t.Logf("%s: %d requests at %.0f/s, %d failed", s.service, total, rate, failed)
			if failed > 0 {
				t.Errorf("%d of %d requests failed during deploys:\n%s\nproxy log:\n%s", failed, total, strings.Join(samples, "\n"), tail(readFile(filepath.Join(p.state, "proxy", "proxy.log")), 80))
			}
			if rate < 200 {
				t.Errorf("load reached only %.0f requests/s, want at least 200", rate)
			}
		})
	}
}

// TestBadReleases: a release failing its health check never gets traffic
// and the deploy fails with its last log lines; a canary answering 500 to
// 30% of requests is aborted at its first analysis and marked failed.
func TestBadReleases(t *testing.T) {
	t.Parallel()
	versions := append(goodVersions(),
		version{tag: "unhealthy", files: map[string]string{"VERSION": "v3\n", "HEALTH_FAIL": "1\n"}},
		version{tag: "erroring", files: map[string]string{"VERSION": "v4\n", "FAIL_RATE": "0.3\n"}},
	)
	yaml := strings.Replace(strategiesYAML, "deploy_timeout: 15s, drain", "deploy_timeout: 4s, drain", 1)
	p := newProject(t, yaml, versions)
	p.startServer()

	t.Run("health", func(t *testing.T) {
		p.deploy("rolling", "v1")
		l := startLoad(p.httpAddr, "rolling.test", 100, 4, time.Minute)
		out, errOut, err := p.tug("deploy", "rolling", "--version", "unhealthy")
		l.stop()
		if err == nil {
			t.Fatalf("deploy of an unhealthy release succeeded:\n%s", out)
		}
		msg := out + errOut
		for _, want := range []string{"database unreachable", "/healthz", "503"} {
			if !strings.Contains(msg, want) {
				t.Errorf("failure output lacks %q (last log line / failing check):\n%s", want, msg)
			}
		}
		total, failed, _, samples := l.result()
		if failed > 0 {
			t.Errorf("%d of %d requests failed:\n%s", failed, total, strings.Join(samples, "\n"))
		}
		for _, v := range l.recent(50) {
			if v != "v1" {
				t.Fatalf("traffic reached the unhealthy release: %v", l.recent(50))
			}
		}
		if r := latestRelease(t, p, "rolling"); r["status"] != "failed" {
			t.Errorf("unhealthy release status = %v, want failed", r["status"])
		}
	})

	t.Run("canary", func(t *testing.T) {
		p.deploy("canary", "v1")
		l := startLoad(p.httpAddr, "canary.test", 200, 8, time.Minute)
		start := time.Now()
		out, errOut, err := p.tug("deploy", "canary", "--version", "erroring")
		took := time.Since(start)
		if err == nil {
			l.stop()
			t.Fatalf("canary answering 500 to 30%% of requests was promoted:\n%s", out)
		}
		if !l.waitVersion("v1", 30, 5*time.Second) {
			t.Errorf("traffic not back on v1 after the abort: %v", l.recent(30))
		}
		l.stop()
		msg := out + errOut
		if !strings.Contains(strings.ToLower(msg), "error rate") {
			t.Errorf("abort does not name the error rate:\n%s", msg)
		}
		// Aborted at the first step: well before the second step could run.
		if took > 15*time.Second {
			t.Errorf("abort took %s", took)
		}
		r := latestRelease(t, p, "canary")
		if r["status"] != "failed" {
			t.Errorf("canary release status = %v, want failed", r["status"])
		}
		if n := len(p.appProcesses()); n > 4 {
			t.Errorf("%d app processes after the abort, canary not stopped", n)
		}
	})
}

// latestRelease is the newest release of service from `tug releases --json`.
func latestRelease(t *testing.T, p *project, service string) map[string]any {
	t.Helper()
	out, errOut, err := p.tug("releases", service, "--json")
	if err != nil {
		t.Fatalf("tug releases: %v\n%s", err, errOut)
	}
	var rs []map[string]any
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs) == 0 {
		t.Fatalf("tug releases --json: %v\n%s", err, out)
	}
	return rs[0]
}

func releaseSummary(rs []map[string]any) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%v %v %v %v\n", r["id"], r["revision"], r["status"], r["reason"])
	}
	return b.String()
}
