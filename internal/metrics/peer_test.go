package metrics

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// TestRealPrometheusScrapesTug: Debian's prometheus (apt-get install
// prometheus) scrapes tug's /metrics on loopback, and its own
// /api/v1/query then shows tug's series.
func TestRealPrometheusScrapesTug(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus binary not found: apt-get install prometheus (Debian package \"prometheus\", /usr/bin/prometheus)")
	}
	reg := prometheus.NewRegistry()
	deploys := prometheus.NewCounter(prometheus.CounterOpts{Name: "tug_deploys_total", Help: "Deploys started."})
	reg.MustRegister(deploys)
	deploys.Add(5)
	insts := []runtime.Instance{{ID: "web-production-r7-1", Service: "web", Environment: "production", Release: "r7", Restarts: 3, State: runtime.Running}}
	m := newTestMonitor(t, Options{
		Gatherer:  reg,
		Instances: func(context.Context) ([]runtime.Instance, error) { return insts, nil },
		Proxy:     fakeProxy{"# TYPE tug_proxy_requests_total counter\ntug_proxy_requests_total{service=\"web\",code=\"200\"} 17\n"},
	})
	tug := httptest.NewServer(m.MetricsHandler())
	t.Cleanup(tug.Close)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s, scrape_timeout: 1s}\nscrape_configs:\n- job_name: tug\n  static_configs: [{targets: [%q]}]\n", tug.Listener.Addr().String())
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})

	c, err := api.NewClient(api.Config{Address: "http://" + promAddr})
	if err != nil {
		t.Fatal(err)
	}
	prom := v1.NewAPI(c)
	want := map[string]float64{
		`tug_deploys_total{job="tug"}`: 5,
		// Without honor_labels the scraper's instance label wins and tug's
		// becomes exported_instance, as for any exporter.
		`tug_instance_restarts_total{job="tug",service="web",exported_instance="web-production-r7-1"}`: 3,
		`tug_proxy_requests_total{job="tug",service="web",code="200"}`:                                 17,
	}
	for q, w := range want {
		testkit.Eventually(t, 60*time.Second, fmt.Sprintf("prometheus query %s = %v", q, w), func() bool {
			qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
			defer qcancel()
			v, _, _, err := prom.Query(qctx, q, time.Now())
			if err != nil {
				return false
			}
			vec, ok := v.(model.Vector)
			return ok && len(vec) == 1 && float64(vec[0].Value) == w
		})
	}
}
