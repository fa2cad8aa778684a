package proxy

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestRequestCaughtInATableSwapIsRematched: a request that matched a route
// just before a table swap drained its backends picks again from the new
// table instead of failing with "no healthy backend".
func TestRequestCaughtInATableSwapIsRematched(t *testing.T) {
	t.Parallel()
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 100, hostOf(a)), mkPool("r2", 0, hostOf(b))))
	old := p.srv.routing.Load()
	req := httptest.NewRequest("GET", "http://app.test/", nil)
	st := &reqState{routing: old, route: old.match("app.test", "/")}

	p.apply(t, oneRoute(2, "app.test", mkPool("r2", 100, hostOf(b))))
	now := time.Now().UnixNano()
	if got := st.route.pick(now, nil); got != nil {
		t.Fatalf("the old table still offers %s; its backend should be draining", got.addr)
	}
	got := p.srv.rematch(req, st, now)
	if got == nil || got.addr != hostOf(b) {
		t.Fatalf("rematch = %v, want b from the new table", got)
	}
	if st.routing != p.srv.routing.Load() {
		t.Error("rematch did not move the request to the new table")
	}
}
