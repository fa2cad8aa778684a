package metrics

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/endpoint"
)

// newTestMonitor opens a Monitor in a temp dir, closed at cleanup.
func newTestMonitor(t testing.TB, opts Options) *Monitor {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// runMonitor runs m until the test ends.
func runMonitor(t testing.TB, m *Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// appendSeries writes v(i) at start+i*step for n points.
func appendSeries(t testing.TB, m *Monitor, ls labels.Labels, start time.Time, step time.Duration, n int, v func(i int) float64) {
	t.Helper()
	app := m.db.AppenderV2(context.Background())
	for i := range n {
		if _, err := app.Append(0, ls, 0, start.Add(time.Duration(i)*step).UnixMilli(), v(i), nil, nil, storage.AOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

// apiClient serves m's operations at /api/v1/ and returns Prometheus's own Go
// API client for it, the one Grafana-like tools use.
func apiClient(t testing.TB, m *Monitor) (v1.API, string) {
	t.Helper()
	rt, err := endpoint.NewRouter(Ops(m), endpoint.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return v1.NewAPI(c), srv.URL
}
