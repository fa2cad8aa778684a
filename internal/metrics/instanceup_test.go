package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// TestInstanceUpForEveryInstance: tug_instance_up comes from tug's own
// health checks, so instances of services without `metrics:` (which are
// never scraped, and so have no `up`) are covered too.
func TestInstanceUpForEveryInstance(t *testing.T) {
	t.Parallel()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(healthy.Close)
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(sick.Close)
	cfg := &config.Config{
		Services: map[string]*config.Service{
			"web":    {Health: &config.Health{Path: "/healthz"}},
			"worker": {}, // no health path: a TCP connect
		},
		Monitoring: &config.Monitoring{ScrapeInterval: config.Duration(time.Second)},
	}
	inst := func(id, svc, addr string, st runtime.State) runtime.Instance {
		return runtime.Instance{ID: id, Service: svc, Environment: "staging", Release: "r1", Addr: addr, State: st}
	}
	insts := []runtime.Instance{
		inst("web-ok", "web", healthy.Listener.Addr().String(), runtime.Running),
		inst("web-sick", "web", sick.Listener.Addr().String(), runtime.Running),
		inst("web-restarting", "web", healthy.Listener.Addr().String(), runtime.Restarting),
		inst("worker-ok", "worker", sick.Listener.Addr().String(), runtime.Running),
		inst("worker-gone", "worker", deadAddr(t), runtime.Running),
	}
	m := newTestMonitor(t, Options{
		Config:    cfg,
		Instances: func(context.Context) ([]runtime.Instance, error) { return insts, nil },
	})
	runMonitor(t, m)
	want := map[string]float64{
		"web-ok": 1, "web-sick": 0, "web-restarting": 0, "worker-ok": 1, "worker-gone": 0,
	}
	for id, w := range want {
		q := fmt.Sprintf(`tug_instance_up{job="tug",service=~"web|worker",environment="staging",release="r1",instance=%q}`, id)
		testkit.Eventually(t, 20*time.Second, q+" = "+fmt.Sprint(w), func() bool {
			v, err := m.Query(context.Background(), q)
			return err == nil && v == w
		})
	}
}
