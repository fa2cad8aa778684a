package proxy

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// TestLastResortWhenNothingIsHealthy: when every backend of a route fails
// its check, the ones that served before are still tried (their checks may
// be what is wrong), while a backend never seen healthy is not.
func TestLastResortWhenNothingIsHealthy(t *testing.T) {
	t.Parallel()
	var ok, never atomic.Bool
	ok.Store(true)
	a := checkedBackend(t, "a", &ok, nil)
	fresh := checkedBackend(t, "fresh", &never, nil)
	health := &HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: time.Second}
	p := startProxy(t, stateDir(t), nil)
	tab := oneRoute(1, "app.test", mkPool("r1", 1, hostOf(a)))
	tab.Routes[0].Health = health
	p.apply(t, tab)
	testkit.Eventually(t, 0, "a healthy", func() bool {
		code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		return code == 200
	})
	ok.Store(false) // a's check now fails, though a still answers
	testkit.Eventually(t, 0, "a marked unhealthy", func() bool {
		bs, err := p.client.Backends(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.Addr == hostOf(a) {
				return !b.Healthy
			}
		}
		return false
	})
	for i := 0; i < 5; i++ {
		if code, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 200 || body != "a" {
			t.Fatalf("request %d: %d %q; want a as the last resort", i, code, body)
		}
	}
	// A backend never seen healthy is no last resort.
	tab = oneRoute(2, "app.test", mkPool("r2", 1, hostOf(fresh)))
	tab.Routes[0].Health = health
	p.apply(t, tab)
	if code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("never-healthy backend: %d, want 503", code)
	}
}
