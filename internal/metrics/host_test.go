package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/runtime"
)

// TestHostFixtureNames checks node_exporter's naming on a fixed /proc:
// per-CPU modes in seconds, meminfo fields in bytes (parentheses folded
// to "_"), unit-less fields without _bytes, loads, network counters.
func TestHostFixtureNames(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	files := map[string]string{
		"stat":       "cpu  100 0 50 1000 5 0 1 0 0 0\ncpu0 60 0 30 500 2 0 1 0 0 0\ncpu1 40 0 20 500 3 0 0 0 0 0\nctxt 99\nbtime 1700000000\n",
		"meminfo":    "MemTotal:       2048 kB\nMemAvailable:   1024 kB\nActive(anon):   16 kB\nHugePages_Total:       3\n",
		"loadavg":    "0.50 0.25 0.10 1/100 4242\n",
		"net/dev":    "Inter-|   Receive\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n",
		"mounts":     "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /sys/fs/cgroup tmpfs rw 0 0\n",
		"4242/stat":  "4242 (my (odd) app) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0\n",
		"4242/statm": "1000 256 0 0 0 0 0\n",
		// An instance leading a process group (a wrapper and its child),
		// another process group, and a stray member of a group whose
		// leader is gone.
		"5000/stat": "5000 (sh) S 1 5000 5000 0 -1 0 0 0 0 0 100 100 50 50 20 0 1 0 100 1000 40\n",
		"5001/stat": "5001 (app) S 5000 5000 5000 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 101 1000 60\n",
		"6000/stat": "6000 (other) S 1 6000 6000 0 -1 0 0 0 0 0 900 900 0 0 20 0 1 0 100 1000 500\n",
		"7001/stat": "7001 (orphan) S 1 7000 7000 0 -1 0 0 0 0 0 900 900 0 0 20 0 1 0 100 1000 500\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	insts := []runtime.Instance{
		{ID: "web-1", Service: "web", Environment: "prod", Release: "r1", PID: 4242, State: runtime.Running, Restarts: 2},
		{ID: "api-1", Service: "api", Environment: "prod", Release: "r1", PID: 5000, State: runtime.Running},
		{ID: "gone-1", Service: "gone", Environment: "prod", Release: "r1", PID: 7000, State: runtime.Running},
	}
	m := newTestMonitor(t, Options{ProcRoot: root, Hostname: "box"})
	m.collectLocal(context.Background(), insts)
	for q, want := range map[string]float64{
		`node_cpu_seconds_total{cpu="1",mode="system"}`:                   0.2,
		`node_cpu_seconds_total{cpu="0",mode="idle"}`:                     5,
		`count(node_cpu_seconds_total)`:                                   16,
		`node_memory_MemTotal_bytes`:                                      2048 * 1024,
		`node_memory_Active_anon_bytes`:                                   16 * 1024,
		`node_memory_HugePages_Total`:                                     3,
		`node_load1`:                                                      0.5,
		`node_load15`:                                                     0.1,
		`node_network_receive_bytes_total{device="eth0"}`:                 1000,
		`node_network_transmit_bytes_total{device="eth0"}`:                2000,
		`count(node_filesystem_size_bytes{mountpoint="/",fstype="ext4"})`: 1,
		`count(node_filesystem_size_bytes)`:                               1,
		`tug_instance_cpu_seconds_total{instance="web-1"}`:                4,
		`tug_instance_resident_memory_bytes{instance="web-1"}`:            float64(256 * os.Getpagesize()),
		`tug_instance_restarts_total{instance="web-1",service="web"}`:     2,
		`tug_instance_cpu_seconds_total{instance="api-1"}`:                4,
		`tug_instance_resident_memory_bytes{instance="api-1"}`:            float64(100 * os.Getpagesize()),
		`absent(tug_instance_cpu_seconds_total{instance="gone-1"})`:       1,
	} {
		got, err := m.Query(context.Background(), q)
		if err != nil || got != want {
			t.Errorf("%s = %v (%v), want %v", q, got, err, want)
		}
	}
}

// TestMetricsHandlerExposesTug: tug's own /metrics carries the runtime's
// and the proxy's families, and a proxy that is down does not break it.
func TestMetricsHandlerExposesTug(t *testing.T) {
	t.Parallel()
	insts := []runtime.Instance{{ID: "web-1", Service: "web", Restarts: 4, State: runtime.Running}}
	for _, proxy := range []ProxyMetrics{fakeProxy{"tug_proxy_requests_total{service=\"web\",code=\"200\"} 7\n"}, downProxy{}} {
		m := newTestMonitor(t, Options{
			Instances: func(context.Context) ([]runtime.Instance, error) { return insts, nil },
			Proxy:     proxy,
		})
		srv := httptest.NewServer(m.MetricsHandler())
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		srv.Close()
		text := string(body)
		if resp.StatusCode != 200 || !strings.Contains(text, `tug_instance_restarts_total{environment="",instance="web-1",release="",service="web"} 4`) ||
			!strings.Contains(text, "prometheus_tsdb_head_series") {
			t.Errorf("%T: %d\n%s", proxy, resp.StatusCode, text)
		}
		if _, up := proxy.(fakeProxy); up != strings.Contains(text, `tug_proxy_requests_total{code="200",service="web"} 7`) {
			t.Errorf("%T: proxy families present = %v", proxy, !up)
		}
	}
}

type downProxy struct{}

func (downProxy) Metrics(context.Context) ([]byte, error) { return nil, io.ErrUnexpectedEOF }
