package deploy

import (
	"context"
	"errors"
	"testing"

	"github.com/tugdev/tug/internal/proxy"
)

// TestApplyConfigPushesNewRoutes: a reload that changes a live service's
// routes reaches the proxy at once, not at the next deploy; one that
// changes nothing the table shows pushes nothing; a refused push is an
// error for the caller.
func TestApplyConfigPushesNewRoutes(t *testing.T) {
	h := newHarness(t, configWith(webService("rolling", "ok")))
	h.mustDeploy("")
	pushed := len(h.router.tables())

	same := configWith(webService("rolling", "ok"))
	same.Services["web"].Replicas = 3 // the next deploy's business
	if err := h.m.ApplyConfig(context.Background(), same); err != nil {
		t.Fatal(err)
	}
	if n := len(h.router.tables()); n != pushed {
		t.Fatalf("a change the table does not show pushed %d tables", n-pushed)
	}

	moved := configWith(webService("rolling", "ok"))
	moved.Services["web"].Routes = []string{"shop.test"}
	if err := h.m.ApplyConfig(context.Background(), moved); err != nil {
		t.Fatal(err)
	}
	cur := h.router.current()
	if len(cur.Routes) != 1 || cur.Routes[0].Host != "shop.test" || len(cur.Routes[0].Pools) == 0 {
		t.Fatalf("routes after apply: %+v", cur.Routes)
	}

	h.router.mu.Lock()
	h.router.hook = func(*proxy.Table) error { return proxy.ErrUnreachable }
	h.router.mu.Unlock()
	back := configWith(webService("rolling", "ok"))
	if err := h.m.ApplyConfig(context.Background(), back); !errors.Is(err, proxy.ErrUnreachable) {
		t.Fatalf("a refused push: %v", err)
	}
}
