package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// checkedBackend answers / with its name and /healthz with 200 while
// healthy is true, 500 otherwise; gate, if set, holds /healthz answers
// until closed.
func checkedBackend(t *testing.T, name string, healthy *atomic.Bool, gate chan struct{}) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if gate != nil {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			if !healthy.Load() {
				w.WriteHeader(500)
			}
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestUnhealthyGetsNoTrafficAndNewBackendWaitsForCheck(t *testing.T) {
	t.Parallel()
	var up, down, fresh atomic.Bool
	up.Store(true)
	fresh.Store(true)
	a := checkedBackend(t, "a", &up, nil)
	b := checkedBackend(t, "b", &down, nil)
	gate := make(chan struct{})
	c := checkedBackend(t, "c", &fresh, gate)
	health := &HealthCheck{Path: "/healthz", Interval: 20 * time.Millisecond, Timeout: 5 * time.Second}

	p := startProxy(t, stateDir(t), nil)
	tab := oneRoute(1, "app.test", mkPool("r1", 1, hostOf(a), hostOf(b)))
	tab.Routes[0].Health = health
	p.apply(t, tab)
	// Pushed backends start unhealthy: wait for a's first check.
	testkit.Eventually(t, 0, "a healthy", func() bool {
		code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		return code == 200
	})
	for i := 0; i < 20; i++ {
		code, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		if code != 200 || body != "a" {
			t.Fatalf("request %d: %d %q; only a is healthy", i, code, body)
		}
	}

	// c joins; its check is held, so it must get nothing yet.
	tab = oneRoute(2, "app.test", mkPool("r1", 1, hostOf(a), hostOf(b), hostOf(c)))
	tab.Routes[0].Health = health
	p.apply(t, tab)
	for i := 0; i < 20; i++ {
		if _, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); body != "a" {
			t.Fatalf("request %d went to %q before its first passing check", i, body)
		}
	}
	close(gate)
	testkit.Eventually(t, 0, "c in rotation", func() bool {
		_, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		return body == "c"
	})
	// a goes down: after its next check it gets nothing.
	up.Store(false)
	testkit.Eventually(t, 0, "a out of rotation", func() bool {
		for _, s := range mustBackends(t, p) {
			if s.Addr == hostOf(a) {
				return !s.Healthy
			}
		}
		return false
	})
	for i := 0; i < 10; i++ {
		if _, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); body != "c" {
			t.Fatalf("request %d went to %q, only c is healthy", i, body)
		}
	}
}

func mustBackends(t *testing.T, p *testProxy) []BackendStatus {
	t.Helper()
	bs, err := p.client.Backends(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}
