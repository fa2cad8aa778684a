package deploy

import (
	"context"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
)

// TestDownStopsOneEnvironmentForGood: tug down --env staging takes staging
// out of the table and stops its instances; production keeps serving;
// a server starting afterwards does not bring staging back.
func TestDownStopsOneEnvironmentForGood(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Environments = map[string]*config.ServiceEnvironment{"production": {Routes: []string{"web.prod.test"}}}
	h := newHarness(t, configWith(svc, "staging", "production"))
	h.mustDeploy("staging")
	h.mustDeploy("production")
	ctx := context.Background()

	stopped, err := h.m.Down(ctx, "staging")
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 2 || !strings.HasPrefix(stopped[0], "web-staging-") {
		t.Fatalf("stopped %v", stopped)
	}
	for _, id := range h.rt.ids() {
		if !strings.HasPrefix(id, "web-production-") {
			t.Errorf("%s still runs", id)
		}
	}
	cur := h.router.current()
	if len(cur.Routes) != 1 || cur.Routes[0].Environment != "production" {
		t.Errorf("routes after down: %+v", cur.Routes)
	}

	// A new server recovers: staging stays down, production is adopted.
	h.crash()
	h.start()
	if err := h.m.Recover(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := h.rt.ids(); len(ids) != 2 || !strings.HasPrefix(ids[0], "web-production-") {
		t.Errorf("after restart: %v", ids)
	}

	// Everything down: nothing left.
	if _, err := h.m.Down(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if ids := h.rt.ids(); len(ids) != 0 {
		t.Errorf("left running: %v", ids)
	}
}
