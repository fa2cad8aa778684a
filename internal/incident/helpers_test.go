package incident

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// notifier records what the incident room sends, by channel.
type notifier struct {
	mu     sync.Mutex
	sent   []sentMsg
	firing []*alert.Alert
	known  bool
}

type sentMsg struct {
	channel string
	msg     *alert.Message
}

func (n *notifier) Send(_ context.Context, channel string, m *alert.Message) (alert.Notification, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, sentMsg{channel, m})
	return alert.Notification{ID: int64(len(n.sent)), Channel: channel, Outcome: alert.OutcomeSent, Attempts: 1}, nil
}

func (n *notifier) History(context.Context, int) ([]alert.Notification, error) { return nil, nil }

func (n *notifier) Firing() ([]*alert.Alert, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firing, n.known
}

// to lists the summaries sent to channel.
func (n *notifier) to(channel string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, s := range n.sent {
		if s.channel == channel {
			out = append(out, s.msg.Alerts[0].Annotations["summary"])
		}
	}
	return out
}

// actions records the changes asked of the deploy manager.
type actions struct {
	mu       sync.Mutex
	calls    []string
	busy     string
	replicas int
	fail     error
	// live is what Rollback says went live.
	live string
}

func (a *actions) call(s string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, s)
	return a.fail
}

func (a *actions) Rollback(_ context.Context, service, env, who string) (string, error) {
	return a.live, a.call(fmt.Sprintf("rollback %s %s by %s", service, env, who))
}

func (a *actions) Restart(_ context.Context, service, env, inst, who string) (string, error) {
	return service + "-new", a.call(fmt.Sprintf("restart %s %s %s by %s", service, env, inst, who))
}

func (a *actions) Scale(_ context.Context, service, env string, n int, who string) (int, int, error) {
	before := a.replicas
	return before, n, a.call(fmt.Sprintf("scale %s %s %d by %s", service, env, n, who))
}

func (a *actions) Replicas(context.Context, string, string) (int, error) { return a.replicas, nil }

func (a *actions) Busy(context.Context, string, string) (string, error) { return a.busy, nil }

func (a *actions) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

// logSearch answers log searches from a fixed list of lines.
type logSearch []logs.Line

func (l logSearch) Search(_ context.Context, q logs.Query) ([]logs.Line, error) {
	var out []logs.Line
	for _, ln := range l {
		if ln.Service == q.Service && !ln.Time.Before(q.Since) && (q.Grep == nil || q.Grep.MatchString(ln.Text)) {
			out = append(out, ln)
		}
	}
	return out, nil
}

// fixture is a Manager over a real store with fakes around it and a
// hand-moved clock.
type fixture struct {
	t       *testing.T
	m       *Manager
	st      *store.Store
	dir     string
	clock   *testkit.Clock
	cfg     *config.Config
	notes   *notifier
	acts    *actions
	changes []Change
	queries []string
	failed  float64
	logs    logSearch
}

func baseConfig() *config.Config {
	return &config.Config{
		Version: 1, Project: "shop",
		Services: map[string]*config.Service{
			"web": {Run: "./web", Routes: []string{"web.example.com"}, Secrets: []string{"API_KEY"},
				SLO: &config.SLO{Availability: 99.9, Window: config.Duration(30 * 24 * time.Hour)}},
			"db": {Run: "./db"},
		},
		ServiceOrder: []string{"web", "db"},
		Notify: &config.Notify{Channels: []*config.Channel{
			{Name: "primary", Webhook: &config.URLChannel{URL: "http://hook/primary"}},
			{Name: "secondary", Webhook: &config.URLChannel{URL: "http://hook/secondary"}},
		}},
		Incidents: &config.Incidents{
			AckTimeout:  config.Duration(15 * time.Minute),
			GroupWindow: config.Duration(10 * time.Minute),
			Escalation:  []*config.EscalationLevel{{Channel: "primary", Oncall: "ops"}, {Channel: "secondary"}},
			URL:         "https://tug.example.com",
		},
		Oncall: map[string]*config.Rotation{"ops": {Rotation: []string{"ana", "ben"}, Handoff: "mon 09:00"}},
	}
}

func newFixture(t *testing.T, cfg *config.Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, dir: dir, clock: testkit.NewClock(t0), cfg: cfg, notes: &notifier{}, acts: &actions{live: "r1", replicas: 2}}
	f.start()
	return f
}

// start builds a Manager (again, after a simulated crash) on the store.
func (f *fixture) start() {
	f.t.Helper()
	var mu sync.Mutex
	m, err := New(context.Background(), Options{
		Store:    f.st,
		Config:   func() *config.Config { return f.cfg },
		Dir:      f.dir,
		Notifier: f.notes,
		Actions:  f.acts,
		Changes: []ChangeSource{ChangeFunc(func(_ context.Context, service, _ string, from, to time.Time) ([]Change, error) {
			var out []Change
			for _, c := range f.changes {
				if !c.Time.Before(from) && !c.Time.After(to) {
					out = append(out, c)
				}
			}
			return out, nil
		})},
		Logs: &f.logs,
		Query: func(_ context.Context, expr string) (float64, error) {
			mu.Lock()
			defer mu.Unlock()
			f.queries = append(f.queries, expr)
			if strings.Contains(expr, `code=~"5.."`) {
				return f.failed, nil
			}
			return 1e6, nil
		},
		// A shared value and one only production has: a step may see both.
		SecretValues: func(context.Context) []secret.Value {
			return []secret.Value{secret.New("s3cr3t-value-42"), secret.New("pr0d-0nly-value-9")}
		},
		Now: f.clock.Now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(m.Close)
	f.m = m
}

// fire makes alert name fire on service at the clock's now (it became
// active a minute before).
func (f *fixture) fire(name, sev, service string, value float64) alert.Alert {
	f.t.Helper()
	lbls := map[string]string{"alertname": name, "severity": sev, "service": service}
	a := alert.Alert{ID: alert.Fingerprint(lbls), Name: name, State: alert.StateFiring, Severity: sev, Labels: lbls,
		Value: value, ActiveAt: f.clock.Now().Add(-time.Minute), StartsAt: f.clock.Now(),
		Annotations: map[string]string{"summary": service + " fails", "runbook": alert.DefaultRunbook(name)}}
	f.m.HandleAlert(context.Background(), alert.Change{Alert: a})
	f.m.Wait()
	return a
}

func (f *fixture) resolve(a alert.Alert) {
	f.t.Helper()
	a.State, a.EndsAt = alert.StateResolved, f.clock.Now()
	f.m.HandleAlert(context.Background(), alert.Change{Alert: a})
	f.m.Wait()
}

func (f *fixture) show(id int64) *Incident {
	f.t.Helper()
	inc, err := f.m.Show(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return inc
}

func (f *fixture) only() *Incident {
	f.t.Helper()
	list, err := f.m.List(context.Background(), ListParams{})
	if err != nil || len(list) != 1 {
		f.t.Fatalf("incidents = %+v, %v; want one", list, err)
	}
	return f.show(list[0].ID)
}

// kinds lists the timeline's entries as "kind: text".
func kinds(inc *Incident) []string {
	var out []string
	for _, e := range inc.Timeline {
		out = append(out, e.Kind+": "+e.Text)
	}
	return out
}

// has says whether some entry of kind contains text.
func has(inc *Incident, kind, text string) bool {
	for _, e := range inc.Timeline {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

// alertOf is a firing alert with lbls, fired at at.
func alertOf(lbls map[string]string, at time.Time) alert.Alert {
	return alert.Alert{ID: alert.Fingerprint(lbls), Name: lbls["alertname"], State: alert.StateFiring, Severity: lbls["severity"],
		Labels: lbls, StartsAt: at, ActiveAt: at.Add(-time.Minute), Annotations: map[string]string{}}
}

func changeOf(a alert.Alert, openFor []string) alert.Change {
	return alert.Change{Alert: a, OpenFor: openFor}
}
