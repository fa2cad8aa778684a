package metrics

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tugdev/tug/internal/config"
)

// seedProxy writes the proxy's counters for one release over the 10
// minutes before end: okPerSec 2xx and errPerSec 5xx requests a second,
// and latency buckets growing by the given per-second counts.
func seedProxy(t testing.TB, m *Monitor, end time.Time, release string, okPerSec, errPerSec float64, buckets map[string]float64) {
	t.Helper()
	start := end.Add(-10 * time.Minute)
	base := []string{"job", "tug-proxy", "instance", "proxy", "service", "web", "environment", "production", "release", release}
	series := func(name string, kv ...string) labels.Labels {
		return labels.FromStrings(append(append([]string{"__name__", name}, base...), kv...)...)
	}
	const step = 15 * time.Second
	perStep := step.Seconds()
	appendSeries(t, m, series("tug_proxy_requests_total", "code", "200"), start, step, 41, func(i int) float64 { return 1000 + float64(i)*okPerSec*perStep })
	if errPerSec > 0 {
		appendSeries(t, m, series("tug_proxy_requests_total", "code", "503"), start, step, 41, func(i int) float64 { return 50 + float64(i)*errPerSec*perStep })
	}
	for le, rate := range buckets {
		appendSeries(t, m, series("tug_proxy_request_duration_seconds_bucket", "le", le), start, step, 41, func(i int) float64 { return float64(i) * rate * perStep })
	}
}

// TestRecordingRulesOnSyntheticProxyCounters evaluates tug's recording
// rules (as the Monitor does without a rules.Manager) and checks each
// number against the arithmetic.
func TestRecordingRulesOnSyntheticProxyCounters(t *testing.T) {
	t.Parallel()
	end := time.Now().Truncate(time.Second)
	m := newTestMonitor(t, Options{Clock: func() time.Time { return end }})
	seedProxy(t, m, end, "r1", 9, 1, map[string]float64{"0.1": 5, "0.5": 10, "+Inf": 10})
	seedProxy(t, m, end, "r2", 4, 0, map[string]float64{"0.1": 4, "0.5": 4, "+Inf": 4})
	if err := m.EvalRecordingRules(context.Background(), end); err != nil {
		t.Fatal(err)
	}
	sel := func(rule, release string) string {
		return rule + `{service="web",environment="production",release="` + release + `"}`
	}
	for _, tc := range []struct {
		q    string
		want float64
	}{
		{sel(RuleRequestRate, "r1"), 10},
		{sel(RuleRequestRate, "r2"), 4},
		{sel(RuleErrorRatio, "r1"), 0.1},
		{sel(RuleErrorRatio, "r2"), 0}, // traffic but no 5xx series: 0, not absent
		{sel(RuleLatencyP95, "r1"), 0.1 + (9.5-5)/(10-5)*0.4},
		{sel(RuleLatencyP95, "r2"), 0.95 * 0.1},
	} {
		got, err := m.Query(context.Background(), tc.q)
		if err != nil {
			t.Errorf("%s: %v", tc.q, err)
			continue
		}
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Exactly the three labels by which they aggregate, plus the name.
	n, err := m.Query(context.Background(), `count(`+RuleRequestRate+`{job=""})`)
	if err != nil || n != 2 {
		t.Errorf("request-rate series without job label: %v %v", n, err)
	}
}

// TestRecordingRulesAreValidRuleFiles: the exported groups parse as a
// Prometheus rule file, so the alert room's rules.Manager can load them.
func TestRecordingRulesAreValidRuleFiles(t *testing.T) {
	t.Parallel()
	b, err := RecordingRulesYAML()
	if err != nil {
		t.Fatal(err)
	}
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(rgs.Groups) != 1 || len(rgs.Groups[0].Rules) != 3 || rgs.Groups[0].Rules[2].Record != RuleLatencyP95 {
		t.Fatalf("parsed %+v", rgs)
	}
}

// TestQueryConvenience covers Query's result shapes.
func TestQueryConvenience(t *testing.T) {
	t.Parallel()
	end := time.Now().Truncate(time.Second)
	m := newTestMonitor(t, Options{Clock: func() time.Time { return end }})
	seedRequests(t, m, end)
	ctx := context.Background()
	if v, err := m.Query(ctx, "2*3"); err != nil || v != 6 {
		t.Errorf("scalar: %v %v", v, err)
	}
	if v, err := m.Query(ctx, `sum(http_requests_total)`); err != nil || v != 12000 {
		t.Errorf("vector: %v %v", v, err)
	}
	for q, want := range map[string]error{
		`nothing_here`:        ErrNoData,
		`http_requests_total`: ErrNotScalar,
		`sum(`:                ErrBadQuery,
	} {
		if _, err := m.Query(ctx, q); !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", q, err, want)
		}
	}
}

// TestRetentionApplied: with monitoring.retention 1h, compaction drops
// samples from 9h ago; with the default (15d) they stay.
func TestRetentionApplied(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retention config.Duration
		want      time.Duration
		oldKept   bool
	}{
		{config.Duration(time.Hour), time.Hour, false},
		{0, DefaultRetention, true},
	} {
		m := newTestMonitor(t, Options{Config: &config.Config{Monitoring: &config.Monitoring{Retention: tc.retention}}})
		if m.Retention() != tc.want {
			t.Fatalf("Retention() = %s, want %s", m.Retention(), tc.want)
		}
		if kept := oldSamplesKept(t, m); kept != tc.oldKept {
			t.Errorf("retention %s: samples from 9h ago kept = %v, want %v", tc.want, kept, tc.oldKept)
		}
	}
}

// A retention changed in tug.yaml applies to the running TSDB.
func TestRetentionChangeAppliesWithoutRestart(t *testing.T) {
	t.Parallel()
	m := newTestMonitor(t, Options{})
	if err := m.SetConfig(&config.Config{Monitoring: &config.Monitoring{Retention: config.Duration(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if m.Retention() != time.Hour {
		t.Fatalf("Retention() = %s, want 1h", m.Retention())
	}
	if oldSamplesKept(t, m) {
		t.Error("samples from 9h ago survived compaction after retention became 1h")
	}
}

// oldSamplesKept writes samples over the last 10h, compacts, and reports
// whether those from 9h ago are still there.
func oldSamplesKept(t *testing.T, m *Monitor) bool {
	t.Helper()
	end := time.Now().Truncate(time.Minute)
	appendSeries(t, m, labels.FromStrings("__name__", "old_and_new"), end.Add(-10*time.Hour), time.Minute, 601, func(i int) float64 { return float64(i) })
	if err := m.db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	q, err := m.db.Querier(end.Add(-10*time.Hour).UnixMilli(), end.Add(-8*time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "old_and_new"))
	return ss.Next()
}
