package deploy

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

// TestScaleOutAndIn: scaling adds gated instances of the live release to
// its pool and removes drained ones, without a new release; nothing live
// or a busy service is refused.
func TestScaleOutAndIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	ctx := context.Background()
	if _, _, err := h.m.Scale(ctx, "web", "", 3, "ann", nil); !errors.Is(err, ErrNothingLive) {
		t.Errorf("scale with nothing live: %v", err)
	}
	r1 := h.mustDeploy("")
	before, after, err := h.m.Scale(ctx, "web", "", 4, "ann", h.progress)
	if err != nil || before != 2 || after != 4 {
		t.Fatalf("Scale = %d, %d, %v", before, after, err)
	}
	if p := pools(h.router.current()); p[r1.ID] != [2]int{100, 4} || len(p) != 1 {
		t.Errorf("pools after scale out %v", p)
	}
	if rels, _ := h.m.Releases(ctx, "web", ""); len(rels) != 1 {
		t.Errorf("scaling made a release: %+v", rels)
	}
	if _, _, err := h.m.Scale(ctx, "web", "", 1, "ann", h.progress); err != nil {
		t.Fatal(err)
	}
	if p := pools(h.router.current()); p[r1.ID] != [2]int{100, 1} {
		t.Errorf("pools after scale in %v", p)
	}
	testkit.Eventually(t, 0, "drained instances to stop", func() bool { return len(h.rt.ids()) == 1 })
	if _, _, err := h.m.Scale(ctx, "web", "", 0, "ann", nil); !errors.Is(err, ErrFailed) {
		t.Errorf("scale to 0: %v", err)
	}
	if _, _, err := h.m.Scale(ctx, "nope", "", 2, "ann", nil); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown service: %v", err)
	}
	h.router.checkViolations(t)
}

// TestRestartReplacesOneInstance: the named instance is replaced by a new
// one that takes traffic first; an unknown instance is refused.
func TestRestartReplacesOneInstance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	ctx := context.Background()
	r1 := h.mustDeploy("")
	old := h.rt.ids()
	slices.Sort(old)
	id, err := h.m.Restart(ctx, "web", "", old[1], "tug", h.progress)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(old, id) {
		t.Errorf("restart kept %s", id)
	}
	backends := func() []string {
		var out []string
		for _, p := range h.router.current().Routes[0].Pools {
			for _, b := range p.Backends {
				out = append(out, b.Instance)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := backends(); !slices.Equal(got, []string{old[0], id}) {
		t.Errorf("backends = %v, want %s and %s", got, old[0], id)
	}
	if p := pools(h.router.current()); p[r1.ID] != [2]int{100, 2} {
		t.Errorf("pools = %v", p)
	}
	testkit.Eventually(t, 0, "the old instance to stop", func() bool { return !slices.Contains(h.rt.ids(), old[1]) })
	if _, err := h.m.Restart(ctx, "web", "", "web-default-r9-1", "tug", nil); !errors.Is(err, ErrNoInstance) {
		t.Errorf("unknown instance: %v", err)
	}
	h.router.checkViolations(t)
}

// TestExtraRoutesReachTheTable: routes to tug itself join every table,
// and a restarted manager does not adopt them as a service.
func TestExtraRoutesReachTheTable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	h.m.opts.ExtraRoutes = func(*config.Config) []TugRoute {
		return []TugRoute{{Route: "status.test/page", Name: "status", Addr: "127.0.0.1:1"}}
	}
	h.mustDeploy("")
	hosts := func() []string {
		var out []string
		for _, r := range h.router.current().Routes {
			out = append(out, r.Host+r.PathPrefix)
		}
		return out
	}
	if got := hosts(); !slices.Contains(got, "status.test/page") || !slices.Contains(got, "web.test") {
		t.Fatalf("hosts = %v", got)
	}
	h.m.adoptTable(context.Background(), h.router.current())
	h.m.mu.Lock()
	_, adopted := h.m.states[key{TugService, "status"}]
	h.m.mu.Unlock()
	if adopted {
		t.Error("the status route was adopted as a service")
	}
}
