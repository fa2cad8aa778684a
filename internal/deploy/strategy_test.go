package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

func TestRollingMovesTrafficOneInstanceAtATime(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	r1 := h.mustDeploy("")
	if r1.Environment != "default" || r1.Revision != "worktree" || r1.Strategy != "rolling" {
		t.Errorf("r1 = %+v", r1)
	}
	before := len(h.router.tables())
	r2 := h.mustDeploy("")
	tables := h.router.tables()[before:]
	// Every table during the deploy keeps at least the replica count of
	// backends, and the mix goes 2/0 -> 2/1 -> 1/1 -> 1/2 -> 0/2.
	var mixes []string
	for _, tb := range tables {
		p := pools(tb)
		if n := p[r1.ID][1] + p[r2.ID][1]; n < 2 {
			t.Errorf("table v%d has %d backends, fewer than 2 replicas: %v", tb.Version, n, p)
		}
		mixes = append(mixes, strings.Repeat("o", p[r1.ID][1])+strings.Repeat("n", p[r2.ID][1]))
	}
	want := []string{"oon", "on", "onn", "nn"}
	if !containsSeq(mixes, want) {
		t.Errorf("backend mixes %v, want the sequence %v", mixes, want)
	}
	last := pools(h.router.current())
	if len(last) != 1 || last[r2.ID] != [2]int{100, 2} {
		t.Errorf("final pools %v", last)
	}
	if got := h.rt.ids(); len(got) != 2 || !strings.Contains(got[0], "-"+r2.ID+"-") {
		t.Errorf("running instances %v, want only %s's", got, r2.ID)
	}
	if got := h.release(r1.ID).Status; got != StatusSuperseded {
		t.Errorf("r1 status %s", got)
	}
	// Both routes ("web.test" and "web.test/api") carry the pools.
	cur := h.router.current()
	if len(cur.Routes) != 2 || cur.Routes[1].Host != "web.test" || cur.Routes[1].PathPrefix != "/api" || cur.Routes[0].Health.Path != "/healthz" {
		t.Errorf("routes %+v %+v", cur.Routes[0], cur.Routes[1])
	}
	h.router.checkViolations(t)
	checkVersions(t, h)
}

// containsSeq reports whether want appears in order (not necessarily
// adjacent) in got.
func containsSeq(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func checkVersions(t *testing.T, h *harness) {
	t.Helper()
	var last int64
	for _, tb := range h.router.tables() {
		if tb.Version <= last {
			t.Errorf("table version %d after %d", tb.Version, last)
		}
		last = tb.Version
	}
}

func TestBlueGreenSwitchesInOnePushAndKeepsOldWarm(t *testing.T) {
	t.Parallel()
	svc := webService("blue-green", "ok")
	svc.Deploy.RollbackWindow = 500 * 1e6 // 500ms
	svc.Deploy.Smoke = &smokeCfg{Path: "/", ExpectStatus: 200}
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	before := len(h.router.tables())
	r2 := h.mustDeploy("")
	// Traffic moves in one push: no table gives weight to both releases.
	// (The new set joins at weight 0 first, for the proxy to probe it.)
	staged := false
	for _, tb := range h.router.tables()[before:] {
		p := pools(tb)
		if p[r1.ID][0] > 0 && p[r2.ID][0] > 0 {
			t.Errorf("table v%d mixes releases: %v", tb.Version, p)
		}
		staged = staged || (p[r1.ID][0] == 100 && p[r2.ID] == [2]int{0, 2})
	}
	if !staged {
		t.Errorf("the new set was never staged at weight 0")
	}
	if p := pools(h.router.current()); p[r2.ID] != [2]int{100, 2} {
		t.Errorf("final pools %v", p)
	}
	// The old set stays running for the window, then is stopped.
	if got := h.rt.ids(); len(got) != 4 {
		t.Errorf("instances right after the switch %v, want old and new", got)
	}
	testkit.Eventually(t, 0, "the warm set to stop", func() bool { return len(h.rt.ids()) == 2 })
	for _, id := range h.rt.ids() {
		if !strings.Contains(id, "-"+r2.ID+"-") {
			t.Errorf("instance %s left running", id)
		}
	}
	h.router.checkViolations(t)
}

func TestCanaryWalksStepsAndPromotes(t *testing.T) {
	t.Parallel()
	svc := webService("canary", "ok")
	svc.Deploy.Steps = []stepCfg{{Weight: 10}, {Weight: 50}, {Weight: 100}}
	svc.Deploy.Analysis = &analysisCfg{MaxErrorRate: 0.05, MinRequests: 10, MaxP95Latency: durationCfg(5 * time.Second)}
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	before := len(h.router.tables())
	r2 := h.mustDeploy("")
	var weights []int
	for _, tb := range h.router.tables()[before:] {
		p := pools(tb)
		if _, ok := p[r2.ID]; ok {
			weights = append(weights, p[r2.ID][0]*1000+p[r1.ID][0])
		}
	}
	want := []int{10090, 50050, 100000}
	if !containsSeqInt(weights, want) {
		t.Errorf("canary/stable weights %v, want %v", weights, want)
	}
	var passed int
	for _, e := range h.events {
		if e.Phase == "analysis" && strings.Contains(e.Message, "canary passed") {
			passed++
		}
	}
	if passed != 2 {
		t.Errorf("%d analyses passed, want 2: %+v", passed, h.events)
	}
	h.router.checkViolations(t)
}

func containsSeqInt(got, want []int) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestCanaryWithErrorsIsAbortedAtFirstAnalysis(t *testing.T) {
	t.Parallel()
	svc := webService("canary", "ok")
	svc.Deploy.Steps = []stepCfg{{Weight: 20}, {Weight: 50}}
	svc.Deploy.Analysis = &analysisCfg{MaxErrorRate: 0.05, MinRequests: 20}
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	h.setRun("flaky")
	before := len(h.router.tables())
	rel, err := h.deploy("")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v, want ErrFailed", err)
	}
	if !strings.Contains(err.Error(), "max_error_rate 0.05") || !strings.Contains(err.Error(), "error rate 0.3") {
		t.Errorf("error does not name threshold and value: %v", err)
	}
	got := h.release(rel.ID)
	if got.Status != StatusFailed || !strings.Contains(got.Reason, "error rate") {
		t.Errorf("release = %+v", got)
	}
	// Only the first step (20%) ever carried the canary.
	for _, tb := range h.router.tables()[before:] {
		if w := pools(tb)[rel.ID][0]; w > 20 {
			t.Errorf("table v%d gave the canary %d%%", tb.Version, w)
		}
	}
	if p := pools(h.router.current()); len(p) != 1 || p[r1.ID][0] != 100 {
		t.Errorf("final pools %v, want all on %s", p, r1.ID)
	}
	for _, id := range h.rt.ids() {
		if strings.Contains(id, "-"+rel.ID+"-") {
			t.Errorf("canary instance %s still running", id)
		}
	}
	h.router.checkViolations(t)
}

func TestUnhealthyReleaseNeverTakesTraffic(t *testing.T) {
	t.Parallel()
	for _, strategy := range []string{"rolling", "blue-green", "canary"} {
		t.Run(strategy, func(t *testing.T) {
			svc := webService(strategy, "ok")
			h := newHarness(t, configWith(svc))
			r1 := h.mustDeploy("")
			h.setRun("sick")
			svc.Deploy.DeployTimeout = durationCfg(400 * time.Millisecond)
			before := len(h.router.tables())
			rel, err := h.deploy("")
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("err = %v", err)
			}
			for _, want := range []string{"panic: database unreachable", "/healthz: 500 Internal Server Error", "not healthy after"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if got := h.release(rel.ID); got.Status != StatusFailed || !strings.Contains(got.Reason, "panic: database unreachable") {
				t.Errorf("release = %+v", got)
			}
			for _, tb := range h.router.tables()[before:] {
				if _, ok := pools(tb)[rel.ID]; ok {
					t.Errorf("table v%d routes to the unhealthy release", tb.Version)
				}
			}
			if p := pools(h.router.current()); p[r1.ID] != [2]int{100, 2} {
				t.Errorf("final pools %v", p)
			}
			if got := h.rt.ids(); len(got) != 2 || !strings.Contains(got[0], "-"+r1.ID+"-") {
				t.Errorf("running %v", got)
			}
			h.router.checkViolations(t)
		})
	}
}

func TestFirstDeployUnhealthyLeavesNoRoute(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "sick")
	svc.Deploy.DeployTimeout = durationCfg(300 * time.Millisecond)
	h := newHarness(t, configWith(svc))
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.router.current().Routes); n != 0 {
		t.Errorf("%d routes after a failed first deploy", n)
	}
	if got := h.rt.ids(); len(got) != 0 {
		t.Errorf("instances left: %v", got)
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok"), "staging", "production"))
	ctx := context.Background()
	if _, err := h.m.Deploy(ctx, Request{Service: "nope"}, nil); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	if _, err := h.m.Deploy(ctx, Request{Service: "web", Environment: "prod"}, nil); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("unknown env: %v", err)
	}
	if rels, _ := h.m.Releases(ctx, "web", ""); len(rels) != 0 {
		t.Errorf("releases recorded: %+v", rels)
	}
	// Without --env the first declared environment is used.
	rel := h.mustDeploy("")
	if rel.Environment != "staging" {
		t.Errorf("default env = %s", rel.Environment)
	}
}

// A rolling deploy that fails halfway (the second new instance is sick)
// brings the old release back to full strength before the new one leaves.
func TestRollingFailureHalfwayRefillsTheOldRelease(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	h.setRun("halfsick")
	svc.Deploy.DeployTimeout = durationCfg(400 * time.Millisecond)
	before := len(h.router.tables())
	rel, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "-"+"2 not healthy") {
		t.Fatalf("err = %v", err)
	}
	sawNew := false
	for _, tb := range h.router.tables()[before:] {
		p := pools(tb)
		if n := p[r1.ID][1] + p[rel.ID][1]; n < 2 {
			t.Errorf("table v%d has %d backends: %v", tb.Version, n, p)
		}
		sawNew = sawNew || p[rel.ID][1] > 0
	}
	if !sawNew {
		t.Errorf("the first new instance never took traffic; the test does not exercise the refill")
	}
	if p := pools(h.router.current()); len(p) != 1 || p[r1.ID] != [2]int{100, 2} {
		t.Errorf("final pools %v", p)
	}
	ids := h.rt.ids()
	if len(ids) != 2 || ids[0] != "web-default-"+r1.ID+"-2" || ids[1] != "web-default-"+r1.ID+"-3" {
		t.Errorf("instances %v, want %s-2 and a refilled %s-3", ids, r1.ID, r1.ID)
	}
	h.router.checkViolations(t)
}
