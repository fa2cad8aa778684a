package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// fakeProxy serves fixed Prometheus text, as the proxy's control socket.
type fakeProxy struct{ text string }

func (p fakeProxy) Metrics(context.Context) ([]byte, error) { return []byte(p.text), nil }

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestScrapeLiveDeadAndInProcessSources runs a Monitor at a 1s interval
// against a real loopback HTTP target (both as a service instance and as
// a monitoring.scrape target), a dead one, a fake proxy socket and this
// test process as an instance, and checks what lands in the TSDB.
func TestScrapeLiveDeadAndInProcessSources(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/custom-metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP app_hits_total Hits.\n# TYPE app_hits_total counter\napp_hits_total 42\n")
	}))
	t.Cleanup(app.Close)
	live := app.Listener.Addr().String()
	dead := deadAddr(t)

	cfg := &config.Config{
		Services: map[string]*config.Service{"web": {Metrics: &config.MetricsEndpoint{Path: "/custom-metrics"}}},
		Monitoring: &config.Monitoring{
			ScrapeInterval: config.Duration(time.Second),
			Scrape: []*config.ScrapeConfig{
				{Job: "extra", Targets: []string{live}, MetricsPath: "/custom-metrics"},
				{Job: "gone", Targets: []string{dead}},
			},
		},
	}
	insts := []runtime.Instance{{
		ID: "web-production-r7-1", Service: "web", Environment: "production", Release: "r7",
		Addr: live, PID: os.Getpid(), State: runtime.Running, Restarts: 3, CrashLoop: true,
	}}
	proxyText := "# TYPE tug_proxy_requests_total counter\n" +
		`tug_proxy_requests_total{service="web",environment="production",release="r7",code="200"} 17` + "\n"
	var mu sync.Mutex
	m := newTestMonitor(t, Options{
		Config: cfg,
		Instances: func(context.Context) ([]runtime.Instance, error) {
			mu.Lock()
			defer mu.Unlock()
			return insts, nil
		},
		Proxy: fakeProxy{proxyText},
	})
	if err := m.SetTargets([]Target{{Job: "explicit", Address: live, MetricsPath: "/custom-metrics", Labels: map[string]string{"team": "shop"}}}); err != nil {
		t.Fatal(err)
	}
	runMonitor(t, m)
	ctx := context.Background()

	value := func(q string) (float64, bool) {
		v, err := m.Query(ctx, q)
		return v, err == nil
	}
	want := map[string]float64{
		`up{job="web",service="web",environment="production",release="r7",instance="web-production-r7-1"}`:             1,
		`app_hits_total{job="web",service="web",environment="production",release="r7",instance="web-production-r7-1"}`: 42,
		`up{job="extra",instance="` + live + `"}`:                                         1,
		`up{job="gone",instance="` + dead + `"}`:                                          0,
		`up{job="tug-proxy"}`:                                                             1,
		`tug_proxy_requests_total{job="tug-proxy",service="web",release="r7",code="200"}`: 17,
		`tug_instance_restarts_total{job="tug",service="web",environment="production",instance="web-production-r7-1"}`: 3,
		`tug_instance_crash_looping{instance="web-production-r7-1"}`:                                                   1,
		`up{job="node"}`: 1,
		`app_hits_total{job="explicit",team="shop",instance="` + live + `"}`: 42,
	}
	for q, w := range want {
		testkit.Eventually(t, 20*time.Second, q+" = "+fmt.Sprint(w), func() bool {
			v, ok := value(q)
			return ok && v == w
		})
	}
	for _, q := range []string{
		`scrape_duration_seconds{job="web"}`,
		`scrape_duration_seconds{job="gone"}`,
		`scrape_duration_seconds{job="tug-proxy"}`,
		`tug_instance_cpu_seconds_total{instance="web-production-r7-1"}`,
		`tug_instance_resident_memory_bytes{instance="web-production-r7-1"}`,
	} {
		if v, ok := value(q); !ok || v <= 0 && q[:6] != "scrape" {
			t.Errorf("%s: got %v (present %v)", q, v, ok)
		}
	}
	c, _ := apiClient(t, m)
	tr, err := c.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	health := map[string]string{}
	for _, at := range tr.Active {
		health[string(at.Labels["job"])+"/"+string(at.Labels["instance"])] = string(at.Health)
	}
	if health["web/web-production-r7-1"] != "up" || health["gone/"+dead] != "down" {
		t.Errorf("/api/v1/targets health: %v", health)
	}
	if rss, _ := value(`tug_instance_resident_memory_bytes`); rss < 1<<20 {
		t.Errorf("resident memory of this test process: %v bytes", rss)
	}

	// The instance goes away: its target stops (up is marked stale) and its
	// tug_instance_* series vanish.
	mu.Lock()
	insts = nil
	mu.Unlock()
	var err1, err2 error
	testkit.Eventually(t, 20*time.Second, "instance series gone after it stopped", func() bool {
		_, err1 = m.Query(ctx, `tug_instance_restarts_total`)
		_, err2 = m.Query(ctx, `up{job="web"}`)
		return errors.Is(err1, ErrNoData) && errors.Is(err2, ErrNoData)
	})
}

// TestHostMetricsNamedAsNodeExporter reads this host's /proc.
func TestHostMetricsNamedAsNodeExporter(t *testing.T) {
	t.Parallel()
	m := newTestMonitor(t, Options{Hostname: "box"})
	m.collectLocal(context.Background(), nil)
	for _, q := range []string{
		`count(node_cpu_seconds_total{job="node",instance="box",mode="idle"})`,
		`node_memory_MemTotal_bytes`,
		`node_memory_MemAvailable_bytes`,
		`node_filesystem_size_bytes{mountpoint="/"}`,
		`node_filesystem_avail_bytes{mountpoint="/"}`,
		`node_load1`, `node_load5`, `node_load15`,
		`node_network_receive_bytes_total{device="lo"}`,
		`node_network_transmit_bytes_total{device="lo"}`,
		`up{job="node"}`,
	} {
		v, err := m.Query(context.Background(), q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		if v < 0 || (q == "node_memory_MemTotal_bytes" && v < 64<<20) {
			t.Errorf("%s = %v", q, v)
		}
	}
	if v, _ := m.Query(context.Background(), `node_memory_MemAvailable_bytes <= node_memory_MemTotal_bytes`); v == 0 {
		t.Error("MemAvailable above MemTotal")
	}
}

// TestSettingsRejectBadValues: bad monitoring keys name their place and
// change nothing.
func TestSettingsRejectBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  config.Config
		want string
	}{
		{config.Config{Monitoring: &config.Monitoring{ScrapeInterval: config.Duration(500 * time.Millisecond)}}, "monitoring.scrape_interval"},
		{config.Config{Monitoring: &config.Monitoring{Scrape: []*config.ScrapeConfig{{Job: "x", Targets: []string{"nohost"}}}}}, "monitoring.scrape[0].targets[0]"},
		{config.Config{Services: map[string]*config.Service{"web": {Metrics: &config.MetricsEndpoint{Path: "metrics"}}}}, "services.web.metrics.path"},
	} {
		m := newTestMonitor(t, Options{})
		err := m.SetConfig(&tc.cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want ErrConfig naming %s", err, tc.want)
		}
		if m.interval() != DefaultScrapeInterval {
			t.Errorf("bad config changed the interval")
		}
	}
}
