package deploy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/testkit"
)

func TestRollbackWithinWindowIsATableSwitch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("blue-green", "ok")))
	ctx := context.Background()
	if _, err := h.m.Rollback(ctx, "web", "", "ann", nil); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("rollback with nothing live: %v", err)
	}
	r1 := h.mustDeploy("")
	if _, err := h.m.Rollback(ctx, "web", "", "ann", nil); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("rollback with one release: %v", err)
	}
	r2 := h.mustDeploy("")
	starts := h.rt.startCount()
	before := len(h.router.tables())
	got, err := h.m.Rollback(ctx, "web", "", "ann", h.progress)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r1.ID || got.Status != StatusLive {
		t.Errorf("rollback returned %+v", got)
	}
	if n := h.rt.startCount(); n != starts {
		t.Errorf("rollback started %d instances, want a route switch only", n-starts)
	}
	if n := len(h.router.tables()) - before; n != 1 {
		t.Errorf("rollback pushed %d tables, want 1", n)
	}
	if p := pools(h.router.current()); p[r1.ID] != [2]int{100, 2} || len(p) != 1 {
		t.Errorf("pools after rollback %v", p)
	}
	if r := h.release(r2.ID); r.Status != StatusRolledBack || !strings.Contains(r.Reason, "ann") {
		t.Errorf("r2 = %+v", r)
	}
	testkit.Eventually(t, 0, "r2's instances to stop", func() bool { return len(h.rt.ids()) == 2 })
	h.router.checkViolations(t)
}

func TestRollbackAfterWindowRedeploys(t *testing.T) {
	t.Parallel()
	svc := webService("blue-green", "ok")
	svc.Deploy.RollbackWindow = durationCfg(100 * time.Millisecond)
	h := newHarness(t, configWith(svc))
	r1 := h.mustDeploy("")
	r2 := h.mustDeploy("")
	testkit.Eventually(t, 0, "the window to end", func() bool { return len(h.rt.ids()) == 2 })
	starts := h.rt.startCount()
	got, err := h.m.Rollback(context.Background(), "web", "", "bob", h.progress)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r1.ID {
		t.Errorf("rolled back to %s", got.ID)
	}
	if n := h.rt.startCount() - starts; n != 2 {
		t.Errorf("redeploy started %d instances, want 2", n)
	}
	p := pools(h.router.current())
	if len(p) != 1 || p[r1.ID][1] != 2 {
		t.Errorf("pools %v", p)
	}
	ids := h.rt.ids()
	if len(ids) != 2 || ids[0] != "web-default-"+r1.ID+"-3" {
		t.Errorf("instances %v, want new instances of %s", ids, r1.ID)
	}
	if r := h.release(r2.ID); r.Status != StatusRolledBack {
		t.Errorf("r2 = %+v", r)
	}
	h.router.checkViolations(t)
}

func TestApprovalBlocksUntilApprove(t *testing.T) {
	t.Parallel()
	cfg := configWith(webService("rolling", "ok"), "staging", "production")
	cfg.Environments["production"].Approval = config.Approval{Required: true}
	h := newHarness(t, cfg)
	ctx := context.Background()
	type result struct {
		rel *Release
		err error
	}
	done := make(chan result, 1)
	go func() {
		rel, err := h.deploy("production")
		done <- result{rel, err}
	}()
	var id string
	testkit.Eventually(t, 0, "the approval event", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.events {
			if e.Phase == "approval" && strings.Contains(e.Message, "tug approve "+e.Release) {
				id = e.Release
				return true
			}
		}
		return false
	})
	if r := h.release(id); r.Status != StatusAwaiting {
		t.Errorf("waiting release = %+v", r)
	}
	// Still blocked, nothing started.
	select {
	case r := <-done:
		t.Fatalf("deploy returned before approval: %+v %v", r.rel, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	if n := h.rt.startCount(); n != 0 {
		t.Errorf("%d instances started before approval", n)
	}
	// A second deploy of the same service/env is refused meanwhile.
	if _, err := h.deploy("production"); !errors.Is(err, ErrBusy) {
		t.Errorf("concurrent deploy: %v, want ErrBusy", err)
	}
	// Another environment is independent.
	if _, err := h.deploy("staging"); err != nil {
		t.Errorf("staging deploy: %v", err)
	}
	if _, err := h.m.Approve(ctx, "r99", "carol"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("approve unknown: %v", err)
	}
	if _, err := h.m.Approve(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.rel.Status != StatusLive || r.rel.ApprovedBy != "carol" || r.rel.ApprovedAt == nil {
		t.Errorf("release = %+v", r.rel)
	}
	if got := h.release(id); got.ApprovedBy != "carol" || got.Status != StatusLive {
		t.Errorf("stored = %+v", got)
	}
	if _, err := h.m.Approve(ctx, id, "carol"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("approve twice: %v", err)
	}
}

func TestApprovalEndsWithContext(t *testing.T) {
	t.Parallel()
	cfg := configWith(webService("rolling", "ok"), "production")
	cfg.Environments["production"].Approval = config.Approval{Required: true}
	h := newHarness(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rel, err := h.m.Deploy(ctx, Request{Service: "web"}, nil)
	if !errors.Is(err, ErrFailed) || rel == nil {
		t.Fatalf("rel %+v err %v", rel, err)
	}
	if got := h.release(rel.ID); got.Status != StatusFailed {
		t.Errorf("stored = %+v", got)
	}
	// The pair is free again.
	if _, err := h.m.Deploy(context.Background(), Request{Service: "web"}, func(e Event) {
		if e.Phase == "approval" && strings.Contains(e.Message, "tug approve") {
			go h.m.Approve(context.Background(), e.Release, "dan")
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// awaitingApproval deploys req to production, which needs approval, on a
// new harness under a life stop ends, and waits until the release id
// awaits approval; done hears how the deploy ended.
func awaitingApproval(t *testing.T, req Request) (h *harness, id string, stop context.CancelCauseFunc, done chan error) {
	t.Helper()
	cfg := configWith(webService("rolling", "ok"), "production")
	cfg.Environments["production"].Approval = config.Approval{Required: true}
	h = newHarness(t, cfg)
	life, stop := context.WithCancelCause(context.Background())
	done = make(chan error, 1)
	go func() {
		_, err := h.m.Deploy(life, req, h.progress)
		done <- err
	}()
	testkit.Eventually(t, 0, "the approval event", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.events {
			if e.Phase == "approval" {
				id = e.Release
				return true
			}
		}
		return false
	})
	return h, id, stop, done
}

// A release waiting for approval outlives its server: stopped (cause
// ErrServerStopping) or crashed, the next server waits again, and the
// approval deploys it.
func TestApprovalSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	for _, crash := range []bool{false, true} {
		h, id, stop, done := awaitingApproval(t, Request{Service: "web"})
		if crash {
			h.crash()
		} else {
			stop(ErrServerStopping)
			if err := <-done; !errors.Is(err, ErrServerStopping) {
				t.Fatalf("stopped server: deploy returned %v", err)
			}
		}
		h.restart()
		if r := h.release(id); r.Status != StatusAwaiting {
			t.Fatalf("crash=%v: after restart %+v, want still awaiting approval", crash, r)
		}
		if _, err := h.deploy("production"); !errors.Is(err, ErrBusy) {
			t.Errorf("crash=%v: a second deploy while one waits: %v, want ErrBusy", crash, err)
		}
		if _, err := h.m.Approve(context.Background(), id, "fay"); err != nil {
			t.Fatalf("crash=%v: approve after restart: %v", crash, err)
		}
		testkit.Eventually(t, 0, "the resumed release to go live", func() bool { return h.release(id).Status == StatusLive })
		if r := h.release(id); r.ApprovedBy != "fay" || h.rt.startCount() == 0 {
			t.Errorf("crash=%v: live release %+v, %d starts", crash, r, h.rt.startCount())
		}
		stop(ErrServerStopping)
	}
}

// A rejected release fails without starting anything, and says who
// rejected it.
func TestApprovalRejected(t *testing.T) {
	t.Parallel()
	cfg := configWith(webService("rolling", "ok"), "production")
	cfg.Environments["production"].Approval = config.Approval{Required: true}
	h := newHarness(t, cfg)
	ctx := context.Background()
	rel, err := h.m.Deploy(ctx, Request{Service: "web"}, func(e Event) {
		if e.Phase == "approval" && strings.Contains(e.Message, "tug approve --reject "+e.Release) {
			go func() {
				if _, err := h.m.Reject(ctx, e.Release, "erin"); err != nil {
					t.Error(err)
				}
			}()
		}
	})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "rejected by erin") {
		t.Fatalf("err %v", err)
	}
	if rel == nil || rel.Status != StatusFailed || rel.Reason != "rejected by erin" || rel.FinishedAt == nil {
		t.Errorf("returned release %+v", rel)
	}
	if got := h.release(rel.ID); got.Status != StatusFailed || got.Reason != "rejected by erin" || got.ApprovedBy != "" {
		t.Errorf("stored = %+v", got)
	}
	if n := h.rt.startCount(); n != 0 {
		t.Errorf("%d instances started for a rejected release", n)
	}
	if _, err := h.m.Reject(ctx, rel.ID, "erin"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("reject twice: %v", err)
	}
	if _, err := h.m.Approve(ctx, rel.ID, "erin"); !errors.Is(err, ErrNotAwaiting) {
		t.Errorf("approve after reject: %v", err)
	}
}

// A blue-green switch whose push fails goes back to the old set, which is
// still running, not to an empty route.
func TestBlueGreenFailedSwitchReturnsToOldSet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("blue-green", "ok")))
	r1 := h.mustDeploy("")
	failed := false
	h.router.mu.Lock()
	h.router.hook = func(tb *proxy.Table) error {
		for _, rt := range tb.Routes {
			for _, p := range rt.Pools {
				if p.Release != r1.ID && p.Weight == 100 && !failed {
					failed = true
					return errors.New("proxy unavailable")
				}
			}
		}
		return nil
	}
	h.router.mu.Unlock()
	rel, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !failed {
		t.Fatalf("err = %v (hook fired: %v)", err, failed)
	}
	if p := pools(h.router.current()); len(p) != 1 || p[r1.ID] != [2]int{100, 2} {
		t.Errorf("pools %v, want all on %s", p, r1.ID)
	}
	for _, id := range h.rt.ids() {
		if strings.Contains(id, "-"+rel.ID+"-") {
			t.Errorf("instance %s of the failed release still runs", id)
		}
	}
	if r := h.release(r1.ID); r.Status != StatusLive {
		t.Errorf("r1 = %+v", r)
	}
	h.router.checkViolations(t)
}

// TestRollbackWaitsForWindowHousekeeping: a rollback that arrives while
// the end of a rollback window is being handled waits for it instead of
// failing as if a deploy were in progress.
func TestRollbackWaitsForWindowHousekeeping(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	r1 := h.mustDeploy("")
	h.mustDeploy("")
	k := key{"web", "default"}
	if !h.m.acquireChore(k) {
		t.Fatal("chore not acquired")
	}
	time.AfterFunc(100*time.Millisecond, func() { h.m.release(k) })
	got, err := h.m.Rollback(context.Background(), "web", "", "bob", h.progress)
	if err != nil {
		t.Fatalf("rollback during housekeeping: %v", err)
	}
	if got.ID != r1.ID {
		t.Errorf("rolled back to %s, want %s", got.ID, r1.ID)
	}
}

// TestRollbackSaysWhyItRedeploys: after a rolling or canary deploy there
// is no warm copy to switch back to; the rollback says that, rather than
// that a rollback window ended.
func TestRollbackSaysWhyItRedeploys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	h.mustDeploy("")
	h.mustDeploy("")
	if _, err := h.m.Rollback(context.Background(), "web", "", "bob", h.progress); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Phase == "start" && strings.Contains(e.Message, "a rolling deploy keeps no warm copy") {
			return
		}
	}
	t.Errorf("no reason for the redeploy in %+v", h.events)
}

// A pipeline's deploy that waited for approval when its server stopped is
// found again by Resume on the next server (same service, environment,
// revision and who): Resume says it still waits, follows the approval to
// live, and answers the release; then it is found live at once. Another
// deployer finds nothing.
func TestResumeFollowsAReleaseAwaitingApproval(t *testing.T) {
	t.Parallel()
	const who = "pipeline ci (push)"
	h, id, stop, done := awaitingApproval(t, Request{Service: "web", Environment: "production", Who: who})
	stop(ErrServerStopping)
	if err := <-done; !errors.Is(err, ErrServerStopping) {
		t.Fatalf("stopped server: deploy returned %v", err)
	}
	h.restart()
	ctx := context.Background()
	if _, found, err := h.m.Resume(ctx, Request{Service: "web", Environment: "production", Who: "ann"}, nil); found || err != nil {
		t.Fatalf("another deployer's resume: found %v, %v", found, err)
	}
	type outcome struct {
		rel   *Release
		found bool
		err   error
	}
	got := make(chan outcome, 1)
	var mu sync.Mutex
	var waiting bool
	go func() {
		rel, found, err := h.m.Resume(ctx, Request{Service: "web", Environment: "production", Who: who}, func(e Event) {
			mu.Lock()
			waiting = waiting || (e.Awaiting && e.Release == id)
			mu.Unlock()
		})
		got <- outcome{rel, found, err}
	}()
	testkit.Eventually(t, 0, "resume to say the release waits", func() bool { mu.Lock(); defer mu.Unlock(); return waiting })
	if _, err := h.m.Approve(ctx, id, "fay"); err != nil {
		t.Fatal(err)
	}
	o := <-got
	if o.err != nil || !o.found || o.rel.ID != id || o.rel.Status != StatusLive {
		t.Fatalf("resume: %+v", o)
	}
	if rel, found, err := h.m.Resume(ctx, Request{Service: "web", Environment: "production", Who: who}, nil); err != nil || !found || rel.ID != id {
		t.Errorf("resume of a live release: %+v %v %v", rel, found, err)
	}
}
