package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/metrics"
)

// TestQueryCommand runs `tug query` against the API serving the metrics
// room's Prometheus-compatible operations.
func TestQueryCommand(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(metrics.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	app := m.Storage().AppenderV2(context.Background())
	now := time.Now()
	for i := range 5 {
		ts := now.Add(time.Duration(i-4) * 30 * time.Second).UnixMilli()
		if _, err := app.Append(0, labels.FromStrings("__name__", "up", "job", "web", "instance", "a"), 0, ts, 1, nil, nil, storage.AOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	h, err := api.NewHandler(api.Options{Monitor: m})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"--server", srv.URL}, args...), Env{Stdout: &out, Stderr: &errOut})
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := run("query", "up"); code != 0 || !strings.Contains(out, `up{instance="a", job="web"}  1`) {
		t.Errorf("instant: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("query", "sum(up)", "--range", "2m", "--step", "30s"); code != 0 || strings.Count(out, "  1\n") < 4 {
		t.Errorf("range: %d %q", code, out)
	}
	if code, out, _ := run("query", "up", "--json"); code != 0 || !strings.Contains(out, `"resultType": "vector"`) {
		t.Errorf("json: %d %q", code, out)
	}
	if code, _, errOut := run("query", "sum("); code != 2 || !strings.Contains(errOut, "parse error") {
		t.Errorf("bad expression: want exit 2 naming the parse error, got %d %q", code, errOut)
	}
}
