package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

// base is the fake clock's start; evaluations are stepped from it.
var testBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// harness is an engine over a private TSDB with a hand-moved clock.
type harness struct {
	t      testing.TB
	db     *tsdb.DB
	clock  *testkit.Clock
	engine *Engine
	reg    *prometheus.Registry
	sleeps []time.Duration
	state  *MemoryState
	// series are appended at every step with the value the func returns.
	series map[string]func() float64
	lsets  map[string]labels.Labels
	mu     sync.Mutex
	opts   Options
}

func newTSDB(t testing.TB) *tsdb.DB {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newQueryEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute})
}

// errorRatioRecording is the recording rule the metrics room exports.
func errorRatioRecording() []rulefmt.RuleGroup {
	return []rulefmt.RuleGroup{{Name: "service", Rules: []rulefmt.Rule{{
		Record: "service:error_ratio:rate5m",
		Expr: `sum by (service) (rate(tug_proxy_requests_total{code=~"5.."}[5m]))` +
			` / sum by (service) (rate(tug_proxy_requests_total[5m]))`,
	}}}}
}

func newHarness(t testing.TB, c *config.Config, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, db: newTSDB(t), clock: testkit.NewClock(testBase), reg: prometheus.NewRegistry(),
		state: NewMemoryState(), series: map[string]func() float64{}, lsets: map[string]labels.Labels{}}
	o := Options{
		Config:          c,
		Queryable:       h.db,
		Appendable:      h.db,
		QueryEngine:     newQueryEngine(),
		RecordingGroups: errorRatioRecording(),
		Registerer:      h.reg,
		Now:             h.clock.Now,
		State:           h.state,
		ExternalURL:     "http://tug.test",
		Sleep: func(_ context.Context, d time.Duration) error {
			h.mu.Lock()
			h.sleeps = append(h.sleeps, d)
			h.mu.Unlock()
			return nil
		},
	}
	if tweak != nil {
		tweak(&o)
	}
	h.opts = o
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.engine = e
	return h
}

// set makes a series take the value f returns at every later step.
func (h *harness) set(f func() float64, kv ...string) {
	ls := labels.FromStrings(kv...)
	h.series[ls.String()] = f
	h.lsets[ls.String()] = ls
}

// step moves the clock by the evaluation interval n times; each time it
// appends the series, evaluates and flushes.
func (h *harness) step(n int) {
	h.t.Helper()
	for range n {
		h.clock.Advance(h.engine.Interval())
		h.appendNow()
		h.engine.Evaluate(context.Background())
		h.engine.Flush(context.Background())
	}
}

func (h *harness) appendNow() {
	h.t.Helper()
	app := h.db.Appender(context.Background())
	ts := h.clock.Now().UnixMilli()
	for k, f := range h.series {
		if _, err := app.Append(0, h.lsets[k], ts, f()); err != nil {
			h.t.Fatalf("append %s: %v", k, err)
		}
	}
	if err := app.Commit(); err != nil {
		h.t.Fatal(err)
	}
}

// stepUntil steps until cond holds, at most max steps; it fails if not.
func (h *harness) stepUntil(max int, what string, cond func() bool) int {
	h.t.Helper()
	for i := 1; i <= max; i++ {
		h.step(1)
		if cond() {
			return i
		}
	}
	h.t.Fatalf("after %d steps: %s never happened", max, what)
	return 0
}

// alertState is the state of the named alert now ("" if none).
func (h *harness) alertState(name string) string {
	for _, a := range h.engine.Alerts() {
		if a.Name == name {
			return a.State
		}
	}
	return ""
}

// receiver is an httptest webhook that keeps every body.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	fail   int // answer 500 to this many requests first
	srv    *httptest.Server
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail > 0 {
			r.fail--
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		r.bodies = append(r.bodies, b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.bodies) }

func (r *receiver) messages(t *testing.T) []Message {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Message
	for _, b := range r.bodies {
		var m Message
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("bad payload %s: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

func (r *receiver) raw(i int) []byte { r.mu.Lock(); defer r.mu.Unlock(); return r.bodies[i] }

// webService is a config with one service "web" and the given notify.
func webService(n *config.Notify, alerts ...*config.AlertRule) *config.Config {
	return &config.Config{
		Version:      1,
		Services:     map[string]*config.Service{"web": {Run: "./web", Port: 8080}},
		ServiceOrder: []string{"web"},
		Monitoring:   &config.Monitoring{EvaluationInterval: config.Duration(15 * time.Second)},
		Notify:       n,
		Alerts:       alerts,
	}
}

// webhookTo is a notify block with one webhook channel "ops" and routes.
func webhookTo(url string, routes ...*config.NotifyRoute) *config.Notify {
	return &config.Notify{
		Channels: []*config.Channel{{Name: "ops", Webhook: &config.URLChannel{URL: url}}},
		Routes:   routes,
	}
}

func dur(d time.Duration) config.Duration { return config.Duration(d) }

// traffic feeds tug_proxy_requests_total for web: rps requests a second,
// errPct of them failing (read at each step).
func (h *harness) traffic(rps float64, errPct *float64) {
	var ok, bad float64
	interval := h.engine.Interval().Seconds()
	h.set(func() float64 {
		ok += rps * interval * (1 - *errPct/100)
		return ok
	}, "__name__", "tug_proxy_requests_total", "service", "web", "code", "200")
	h.set(func() float64 {
		bad += rps * interval * *errPct / 100
		return bad
	}, "__name__", "tug_proxy_requests_total", "service", "web", "code", "500")
}

// reload builds a new engine for c over the same TSDB, clock and state,
// as a config reload does, adopting the old engine's state.
func (h *harness) reload(c *config.Config) {
	h.t.Helper()
	o := h.opts
	o.Config = c
	e, err := New(context.Background(), o)
	if err != nil {
		h.t.Fatalf("reload: %v", err)
	}
	e.Adopt(h.engine)
	h.engine = e
}
