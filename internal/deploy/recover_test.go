package deploy

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// crashWhen makes the harness's server "die" right after the proxy takes
// the first table for which cond holds.
func (h *harness) crashWhen(cond func(*proxy.Table) bool) {
	var once sync.Once
	h.router.mu.Lock()
	h.router.after = func(t *proxy.Table) {
		if cond(t) {
			once.Do(h.crash)
		}
	}
	h.router.mu.Unlock()
}

func (h *harness) restart() {
	h.router.mu.Lock()
	h.router.after = nil
	h.router.mu.Unlock()
	h.start()
	if err := h.m.Recover(context.Background(), h.progress); err != nil {
		h.t.Fatalf("Recover: %v", err)
	}
	h.m.ResumeApprovals(context.Background(), h.progress)
}

func TestRecoverFinishesFullySwitchedDeploy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	r1 := h.mustDeploy("")
	// Crash right after the last old instance left the table, before it
	// was drained and stopped.
	h.crashWhen(func(t *proxy.Table) bool { p := pools(t); _, old := p[r1.ID]; return len(p) == 1 && !old })
	if _, err := h.deploy(""); err == nil {
		t.Fatal("deploy survived the crash")
	}
	if n := len(h.rt.ids()); n != 3 {
		t.Fatalf("before recover %v, want 2 new and 1 undrained old", h.rt.ids())
	}
	h.restart()
	rels, _ := h.m.Releases(context.Background(), "web", "")
	r2 := rels[0]
	if r2.Status != StatusLive || h.release(r1.ID).Status != StatusSuperseded {
		t.Errorf("statuses: %s %s", r2.Status, h.release(r1.ID).Status)
	}
	if p := pools(h.router.current()); len(p) != 1 || p[r2.ID][1] != 2 {
		t.Errorf("pools %v", p)
	}
	for _, id := range h.rt.ids() {
		if !strings.Contains(id, "-"+r2.ID+"-") {
			t.Errorf("old instance %s still running", id)
		}
	}
	h.router.checkViolations(t)
	checkVersions(t, h)
}

func TestRecoverRollsBackHalfDoneDeployAndStopsOrphans(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	r1 := h.mustDeploy("")
	// Crash with one old and one new instance in the table.
	h.crashWhen(func(t *proxy.Table) bool { p := pools(t); return p[r1.ID][1] == 1 && len(p) == 2 })
	if _, err := h.deploy(""); err == nil {
		t.Fatal("deploy survived the crash")
	}
	orphan, err := h.rt.Start(context.Background(), runtime.Spec{ID: "web-default-r77-1", Service: "web", Environment: "default", Release: "r77", Command: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	h.restart()
	rels, _ := h.m.Releases(context.Background(), "web", "")
	r2 := rels[0]
	if r2.Status != StatusFailed || !strings.Contains(r2.Reason, "interrupted") {
		t.Errorf("r2 = %+v", r2)
	}
	if r := h.release(r1.ID); r.Status != StatusLive {
		t.Errorf("r1 = %+v", r)
	}
	// r1 is back to its 2 replicas (one restarted), alone in the table.
	if p := pools(h.router.current()); len(p) != 1 || p[r1.ID] != [2]int{100, 2} {
		t.Errorf("pools %v", p)
	}
	ids := h.rt.ids()
	if len(ids) != 2 {
		t.Errorf("instances %v", ids)
	}
	for _, id := range ids {
		if !strings.Contains(id, "-"+r1.ID+"-") {
			t.Errorf("instance %s still running (new release or orphan %s)", id, orphan.ID)
		}
	}
	h.router.checkViolations(t)
	checkVersions(t, h)
}

func TestRecoverRestartsMissingAndResumesWarmTimer(t *testing.T) {
	t.Parallel()
	svc := webService("blue-green", "ok")
	svc.Deploy.RollbackWindow = durationCfg(400 * time.Millisecond)
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	r2 := h.mustDeploy("")
	h.crash()
	// One live instance died while the server was down.
	gone := "web-default-" + r2.ID + "-1"
	if err := h.rt.Stop(context.Background(), gone, 0); err != nil {
		t.Fatal(err)
	}
	h.restart()
	p := h.router.current().Routes[0].Pools
	if len(p) != 1 || p[0].Release != r2.ID || len(p[0].Backends) != 2 {
		t.Fatalf("pools %+v", p)
	}
	for _, b := range p[0].Backends {
		if b.Instance == gone {
			t.Errorf("missing instance still routed")
		}
	}
	// The warm r1 set is stopped when the persisted window ends.
	testkit.Eventually(t, 0, "the warm set to stop after restart", func() bool {
		for _, id := range h.rt.ids() {
			if strings.Contains(id, "-"+r1.ID+"-") {
				return false
			}
		}
		return true
	})
	if n := len(h.rt.ids()); n != 2 {
		t.Errorf("instances %v", h.rt.ids())
	}
}

// With no state of its own (a lost database), Recover adopts what the
// proxy routes to instead of stopping it as orphans, and numbers its next
// table above the proxy's.
func TestRecoverAdoptsTheProxyTable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	ctx := context.Background()
	in, err := h.rt.Start(ctx, runtime.Spec{ID: "web-default-r5-1", Service: "web", Environment: "default", Release: "r5", Command: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	const far = int64(1) << 62
	if err := h.router.Apply(ctx, &proxy.Table{Version: far, Routes: []*proxy.Route{{Host: "web.test", Service: "web", Environment: "default",
		Pools: []*proxy.Pool{{Release: "r5", Weight: 100, Backends: []*proxy.Backend{{Instance: in.ID, Addr: in.Addr}}}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Recover(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := h.rt.ids(); len(ids) != 1 || ids[0] != in.ID {
		t.Errorf("instances %v: the adopted instance was stopped", ids)
	}
	cur := h.router.current()
	if cur.Version <= far || len(cur.Routes) == 0 || cur.Routes[0].Pools[0].Backends[0].Instance != in.ID {
		t.Errorf("table after recover v%d %+v", cur.Version, cur.Routes)
	}
	st, _ := h.m.Status(ctx)
	if len(st) != 1 || len(st[0].Live) != 1 || st[0].Live[0].Release != "r5" {
		t.Errorf("status %+v", st)
	}
}
