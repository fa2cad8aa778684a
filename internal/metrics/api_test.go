package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
)

// seedRequests writes two request counters and a gauge over the 30
// minutes before end, every 15s.
func seedRequests(t testing.TB, m *Monitor, end time.Time) {
	start := end.Add(-30 * time.Minute)
	appendSeries(t, m, labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", "a", "code", "200"),
		start, 15*time.Second, 121, func(i int) float64 { return float64(i * 90) })
	appendSeries(t, m, labels.FromStrings("__name__", "http_requests_total", "job", "api", "instance", "a", "code", "500"),
		start, 15*time.Second, 121, func(i int) float64 { return float64(i * 10) })
	appendSeries(t, m, labels.FromStrings("__name__", "room_temperature", "job", "sensors", "instance", "b"),
		start, 15*time.Second, 121, func(i int) float64 { return 20 + float64(i%7) })
}

// engineValue runs a query on the engine directly, as the reference.
func engineValue(t *testing.T, m *Monitor, qs string, start, end time.Time, step time.Duration) parser.Value {
	t.Helper()
	var q promql.Query
	var err error
	if step == 0 {
		q, err = m.engine.NewInstantQuery(context.Background(), m.db, nil, qs, start)
	} else {
		q, err = m.engine.NewRangeQuery(context.Background(), m.db, nil, qs, start, end, step)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res.Value
}

// TestGrafanaClientMatchesEngine drives the handler with Prometheus's own
// Go API client and checks every answer against the engine or TSDB
// queried directly.
func TestGrafanaClientMatchesEngine(t *testing.T) {
	t.Parallel()
	ref := &rulesRef{}
	m := newTestMonitor(t, Options{Version: "v9.9.9", Rules: ref})
	end := time.Now().Truncate(time.Second)
	seedRequests(t, m, end)
	ref.groups = attachRules(t, m, end)
	m.collectLocal(context.Background(), nil) // node_* and tug metadata
	c, _ := apiClient(t, m)
	ctx := context.Background()

	t.Run("instant", func(t *testing.T) {
		qs := `sum by (code) (rate(http_requests_total[5m]))`
		got, _, _, err := c.Query(ctx, qs, end)
		if err != nil {
			t.Fatal(err)
		}
		want := engineValue(t, m, qs, end, end, 0).(promql.Vector)
		vec, ok := got.(model.Vector)
		if !ok || len(vec) != len(want) || len(vec) != 2 {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range want {
			if vec[i].Metric.String() != labelsToModel(want[i].Metric).String() || float64(vec[i].Value) != want[i].F || int64(vec[i].Timestamp) != want[i].T {
				t.Errorf("sample %d: got %v, want %v", i, vec[i], want[i])
			}
		}
		if math.Abs(float64(vec[0].Value)-6) > 1e-9 || math.Abs(float64(vec[1].Value)-10.0/15) > 1e-9 {
			t.Errorf("rates: got %v, want 6 and 0.667", vec)
		}
	})
	t.Run("scalar", func(t *testing.T) {
		got, _, _, err := c.Query(ctx, "1+1", end)
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := got.(*model.Scalar); !ok || s.Value != 2 {
			t.Fatalf("got %#v", got)
		}
	})
	t.Run("range", func(t *testing.T) {
		qs := `room_temperature`
		r := v1.Range{Start: end.Add(-10 * time.Minute), End: end, Step: 30 * time.Second}
		got, _, _, err := c.QueryRange(ctx, qs, r)
		if err != nil {
			t.Fatal(err)
		}
		want := engineValue(t, m, qs, r.Start, r.End, r.Step).(promql.Matrix)
		mat := got.(model.Matrix)
		if len(mat) != 1 || len(mat[0].Values) != len(want[0].Floats) || len(mat[0].Values) != 21 {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i, p := range want[0].Floats {
			if float64(mat[0].Values[i].Value) != p.F || int64(mat[0].Values[i].Timestamp) != p.T {
				t.Errorf("point %d: got %v, want %v", i, mat[0].Values[i], p)
			}
		}
	})
	t.Run("labels", func(t *testing.T) {
		got, _, _, err := c.LabelNames(ctx, []string{`http_requests_total`}, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"__name__", "code", "instance", "job"}
		if !slices.Equal(toStrings(got), want) {
			t.Errorf("label names: got %v, want %v", got, want)
		}
		all, _, _, err := c.LabelNames(ctx, nil, time.Time{}, time.Time{})
		if err != nil || !slices.Contains(toStrings(all), "mountpoint") {
			t.Errorf("all label names: %v %v", all, err)
		}
	})
	t.Run("label values", func(t *testing.T) {
		got, _, _, err := c.LabelValues(ctx, "job", nil, end.Add(-time.Hour), end.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"api", "node", "sensors", "tug"}
		var gs []string
		for _, v := range got {
			gs = append(gs, string(v))
		}
		if !slices.Equal(gs, want) {
			t.Errorf("got %v, want %v", gs, want)
		}
	})
	t.Run("series", func(t *testing.T) {
		got, _, _, err := c.Series(ctx, []string{`http_requests_total{code="500"}`, `room_temperature`}, end.Add(-time.Hour), end)
		if err != nil {
			t.Fatal(err)
		}
		var gs []string
		for _, s := range got {
			gs = append(gs, s.String())
		}
		want := []string{
			`{__name__="http_requests_total", code="500", instance="a", job="api"}`,
			`{__name__="room_temperature", instance="b", job="sensors"}`,
		}
		if !slices.Equal(gs, want) {
			t.Errorf("got %v, want %v", gs, want)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		got, err := c.Metadata(ctx, "node_load1", "")
		if err != nil {
			t.Fatal(err)
		}
		md := got["node_load1"]
		if len(got) != 1 || len(md) != 1 || md[0].Type != v1.MetricTypeGauge || md[0].Help != "1m load average." {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("rules", func(t *testing.T) {
		got, err := c.Rules(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Groups) != 2 {
			t.Fatalf("groups: %+v", got.Groups)
		}
		var recs, alerts []string
		for _, g := range got.Groups {
			for _, r := range g.Rules {
				switch r := r.(type) {
				case v1.RecordingRule:
					recs = append(recs, r.Name)
				case v1.AlertingRule:
					alerts = append(alerts, r.Name+"/"+string(r.State))
				}
			}
		}
		if !slices.Equal(recs, []string{RuleRequestRate, RuleErrorRatio, RuleLatencyP95}) || !slices.Equal(alerts, []string{"HighErrorRate/firing"}) {
			t.Errorf("recording %v, alerting %v", recs, alerts)
		}
		al, err := c.Alerts(ctx)
		if err != nil || len(al.Alerts) != 1 || al.Alerts[0].Labels["alertname"] != "HighErrorRate" {
			t.Errorf("alerts: %+v %v", al, err)
		}
	})
	t.Run("buildinfo", func(t *testing.T) {
		got, err := c.Buildinfo(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != PrometheusVersion || got.Revision != "v9.9.9" {
			t.Errorf("got %+v", got)
		}
	})
}

// rulesRef lets a test hand the Monitor rule groups built after it.
type rulesRef struct{ groups []*rules.Group }

func (r *rulesRef) RuleGroups() []*rules.Group { return r.groups }

// attachRules loads tug's recording rules and one alerting rule that
// fires at once (the seeded error share is 10%) with a real
// rules.Manager over m's storage, as the alert room does, and evaluates
// each group once at ts.
func attachRules(t *testing.T, m *Monitor, ts time.Time) []*rules.Group {
	t.Helper()
	dir := t.TempDir()
	rec, err := RecordingRulesYAML()
	if err != nil {
		t.Fatal(err)
	}
	alert := `groups:
- name: tug-alerts
  rules:
  - alert: HighErrorRate
    expr: sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m])) > 0.05
    labels: {severity: P0}
`
	files := []string{filepath.Join(dir, "rec.yaml"), filepath.Join(dir, "alerts.yaml")}
	for i, b := range [][]byte{rec, []byte(alert)} {
		if err := os.WriteFile(files[i], b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mgr := rules.NewManager(&rules.ManagerOptions{
		AppendableV2: m.db,
		Queryable:    m.db,
		QueryFunc:    rules.EngineQueryFunc(m.engine, m.db),
		Context:      context.Background(),
		Logger:       m.log,
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {},
	})
	byKey, errs := mgr.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, files...)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var groups []*rules.Group
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		byKey[k].Eval(context.Background(), ts)
		groups = append(groups, byKey[k])
	}
	return groups
}

func labelsToModel(ls labels.Labels) model.Metric {
	out := model.Metric{}
	ls.Range(func(l labels.Label) { out[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return out
}

func toStrings[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// TestAPIFormPostAndErrorTypes: form POST works, and errors carry
// Prometheus's errorType and status.
func TestAPIFormPostAndErrorTypes(t *testing.T) {
	t.Parallel()
	m := newTestMonitor(t, Options{})
	end := time.Now().Truncate(time.Second)
	seedRequests(t, m, end)
	c, base := apiClient(t, m)
	ts := strconv.FormatInt(end.Unix(), 10)

	resp, err := http.PostForm(base+"/api/v1/query", url.Values{"query": {`sum(http_requests_total)`}, "time": {ts}})
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if resp.StatusCode != 200 || env.Status != "success" || env.Data.ResultType != "vector" || len(env.Data.Result) != 1 || env.Data.Result[0].Value[1] != "12000" {
		t.Fatalf("form POST: %d %+v", resp.StatusCode, env)
	}

	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		typ        string
	}{
		{"parse error", "/api/v1/query", url.Values{"query": {"sum("}}, 400, "bad_data"},
		{"bad time", "/api/v1/query", url.Values{"query": {"1"}, "time": {"yesterday"}}, 400, "bad_data"},
		{"bad step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {"10"}, "step": {"0"}}, 400, "bad_data"},
		{"no match", "/api/v1/series", url.Values{}, 400, "bad_data"},
		{"execution", "/api/v1/query", url.Values{"query": {`http_requests_total + on() http_requests_total`}, "time": {ts}}, 422, "execution"},
		{"timeout", "/api/v1/query_range", url.Values{"query": {`count_over_time(http_requests_total[1h])`}, "start": {strconv.FormatInt(end.Add(-30*24*time.Hour).Unix(), 10)}, "end": {ts}, "step": {"1h"}, "timeout": {"0.000000001"}}, 503, "timeout"},
		{"not found", "/api/v1/nope", url.Values{}, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.PostForm(base+tc.path, tc.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Status, ErrorType, Error string }
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Status != "error" || e.ErrorType != tc.typ || e.Error == "" {
				t.Errorf("got %d %+v, want %d %s", resp.StatusCode, e, tc.status, tc.typ)
			}
		})
	}

	// The Go client surfaces the type too.
	_, _, _, err = c.Query(context.Background(), "sum(", end)
	var ae *v1.Error
	if !errors.As(err, &ae) || ae.Type != v1.ErrBadData {
		t.Errorf("client error: %#v", err)
	}
}

// The status endpoints Grafana and promtool read, through Prometheus's
// own Go client: config, flags and TSDB cardinality; and format_query.
func TestAPIStatusAndFormatQuery(t *testing.T) {
	t.Parallel()
	m := newTestMonitor(t, Options{})
	end := time.Now().Truncate(time.Second)
	seedRequests(t, m, end)
	if err := m.SetTargets([]Target{{Job: "explicit", Address: "127.0.0.1:9"}}); err != nil {
		t.Fatal(err)
	}
	c, base := apiClient(t, m)
	ctx := context.Background()

	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cfg.YAML, "scrape_configs:") || !strings.Contains(cfg.YAML, "job_name: job:explicit") {
		t.Errorf("config yaml:\n%s", cfg.YAML)
	}
	flags, err := c.Flags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if flags["storage.tsdb.retention.time"] != "15d" || flags["storage.tsdb.path"] == "" {
		t.Errorf("flags %v", flags)
	}

	st, err := c.TSDB(ctx, v1.WithLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	if st.HeadStats.NumSeries < 3 || st.HeadStats.ChunkCount < 3 || st.HeadStats.MinTime > int(end.Add(-29*time.Minute).UnixMilli()) {
		t.Errorf("head stats %+v", st.HeadStats)
	}
	if len(st.SeriesCountByMetricName) != 2 || st.SeriesCountByMetricName[0].Name != "http_requests_total" || st.SeriesCountByMetricName[0].Value != 2 {
		t.Errorf("series by metric %+v", st.SeriesCountByMetricName)
	}
	for _, bad := range []string{"0", "x", "10001"} {
		resp, err := http.Get(base + "/api/v1/status/tsdb?limit=" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("limit=%s: status %d, want 400", bad, resp.StatusCode)
		}
	}

	for q, want := range map[string]string{
		`sum by(job)(rate(http_requests_total{code="500"}[5m]))`: `sum by (job) (rate(http_requests_total{code="500"}[5m]))`,
		`foo`: `foo`,
	} {
		resp, err := http.PostForm(base+"/api/v1/format_query", url.Values{"query": {q}})
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Status, Data string }
		_ = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if env.Status != "success" || env.Data != want {
			t.Errorf("format_query %q = %+v, want %q", q, env, want)
		}
	}
	resp, err := http.Get(base + "/api/v1/format_query?query=sum(")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("format_query of a bad query: status %d, want 400", resp.StatusCode)
	}
}
