package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// TestKillServerMidDeploy: for each strategy, SIGKILL the server in the
// middle of a deploy under load, start it again: no request fails, the
// deploy is finished or rolled back, no release is left deploying, and no
// instance is orphaned.
func TestKillServerMidDeploy(t *testing.T) {
	// Not parallel: the load must reach its rate, so it gets the machine.
	// Each case kills the server when the deploy's progress prints a line
	// containing trigger.
	cases := []struct{ name, service, host, trigger string }{
		{"rolling", "rolling", "rolling.test", "is healthy"},                     // first new instance in, old ones still serving
		{"bluegreen-before-switch", "bluegreen", "bluegreen.test", "is healthy"}, // new set up, traffic still on the old
		{"bluegreen-warm", "bluegreen", "bluegreen.test", "all traffic on"},      // switched, old set kept warm
		{"canary", "canary", "canary.test", "step 1:"},                           // inside the first step's pause
	}
	for _, s := range cases {
		t.Run(s.name, func(t *testing.T) {
			p := newProject(t, strategiesYAML, goodVersions())
			p.startServer()
			p.deploy(s.service, "v1")
			l := startLoad(p.httpAddr, s.host, loadRate, 10, 2*time.Minute)
			defer l.stop()
			if !l.waitVersion("v1", 10, 10*time.Second) {
				t.Fatalf("v1 not served: %v", l.recent(10))
			}

			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			deployDone := make(chan error, 1)
			triggered := make(chan string, 1)
			go func() {
				deployDone <- p.tugLines(ctx, func(line string) {
					if strings.Contains(line, s.trigger) {
						select {
						case triggered <- line:
						default:
						}
					}
				}, "deploy", s.service, "--version", "v2")
			}()
			select {
			case line := <-triggered:
				t.Logf("killing the server at: %s", strings.TrimSpace(line))
			case err := <-deployDone:
				t.Fatalf("deploy ended (%v) before printing %q", err, s.trigger)
			case <-time.After(30 * time.Second):
				t.Fatalf("deploy never printed %q", s.trigger)
			}
			p.killServer()
			select {
			case err := <-deployDone:
				if err == nil {
					t.Log("deploy finished before the kill; the restart still has to adopt everything")
				}
			case <-time.After(30 * time.Second):
				t.Fatal("tug deploy did not end after the server was killed")
			}
			// Traffic without a control plane: a second's worth of requests.
			before := l.answered()
			testkit.Eventually(t, 0, "requests answered with the server down", func() bool { return l.answered() >= before+loadRate })
			p.startServer()
			settled := waitSettled(t, p, s.service, 2, 30*time.Second)
			// The service keeps working: a fresh deploy goes through.
			p.deploy(s.service, "v1")
			if !l.waitVersion("v1", 20, 5*time.Second) {
				t.Errorf("v1 not served after the post-recovery deploy: %v", l.recent(20))
			}
			l.stop()
			total, failed, rate, samples := l.result()
			t.Logf("%s: recovered to %s; %d requests at %.0f/s, %d failed", s.service, settled, total, rate, failed)
			if failed > 0 {
				t.Errorf("%d of %d requests failed:\n%s\nservers' log:\n%s\nproxy log:\n%s", failed, total, strings.Join(samples, "\n"), tail(p.serverLog.String(), 120), tail(readFile(filepath.Join(p.state, "proxy", "proxy.log")), 60))
			}
			waitSettled(t, p, s.service, 2, 30*time.Second)
		})
	}
}

// waitSettled waits until the service has no deploy in progress, no
// release is left deploying, and exactly replicas app processes run. It
// returns the live release's revision.
func waitSettled(t *testing.T, p *project, service string, replicas int, timeout time.Duration) string {
	t.Helper()
	var why, live string
	settled := testkit.Poll(timeout, func() bool {
		why = ""
		for _, st := range p.status() {
			if st["service"] != service {
				continue
			}
			if st["deploying"] != nil {
				why = "a deploy is still in progress"
			}
		}
		out, _, err := p.tug("releases", service, "--json")
		var rs []map[string]any
		if err != nil || json.Unmarshal([]byte(out), &rs) != nil {
			why = "tug releases failed"
		}
		live = ""
		for _, r := range rs {
			switch r["status"] {
			case "deploying", "pending":
				why = "release " + str(r["id"]) + " still " + str(r["status"])
			case "live":
				live = str(r["revision"])
			}
		}
		if live == "" && why == "" {
			why = "no live release:\n" + releaseSummary(rs)
		}
		if n := len(p.appProcesses()); n != replicas && why == "" {
			why = "app processes: " + itoa(n)
		}
		return why == ""
	})
	if settled {
		return live
	}
	t.Fatalf("%s did not settle: %s\nserver log tail:\n%s", service, why, tail(p.serverLog.String(), 40))
	return ""
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
