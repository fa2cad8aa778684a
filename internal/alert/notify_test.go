package alert

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tugdev/tug/internal/config"
)

// fastRoute routes everything to ch with short timers.
func fastRoute(ch string, match map[string]string, groupBy ...string) *config.NotifyRoute {
	return &config.NotifyRoute{Match: match, Channel: ch, GroupBy: groupBy,
		GroupWait: dur(15 * time.Second), GroupInterval: dur(30 * time.Second), RepeatInterval: dur(time.Hour)}
}

func rule(name, expr, severity string, forDur time.Duration) *config.AlertRule {
	return &config.AlertRule{Alert: name, Expr: expr, Severity: severity, For: dur(forDur)}
}

func constant(v float64) func() float64 { return func() float64 { return v } }

// alertNames lists the alertname/service pairs of a message.
func alertNames(m Message) []string {
	var out []string
	for _, a := range m.Alerts {
		out = append(out, a.Labels["alertname"]+"/"+a.Labels["service"]+"/"+a.Status)
	}
	slices.Sort(out)
	return out
}

func TestSilenceSuppresses(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname")),
		rule("QueueFull", `queue_depth > 100`, "P1", 0))
	h := newHarness(t, c, nil)
	h.set(constant(500), "__name__", "queue_depth", "service", "web")
	s, err := h.engine.AddSilence(t.Context(), SilenceRequest{Matchers: `alertname=QueueFull,service=~"w.*"`, Duration: "2h", Comment: "maintenance", By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	h.step(20)
	if rcv.count() != 0 {
		t.Fatalf("silenced alert notified: %s", rcv.raw(0))
	}
	as := h.engine.Alerts()
	if len(as) != 1 || as[0].State != StateFiring || !slices.Equal(as[0].SilencedBy, []string{s.ID}) {
		t.Fatalf("alerts = %+v, want QueueFull firing silenced by %s", as, s.ID)
	}
	if got := h.engine.Silences(); len(got) != 1 || got[0].Status != SilenceActive || got[0].Comment != "maintenance" {
		t.Fatalf("silences = %+v", got)
	}
	if _, err := h.engine.ExpireSilence(t.Context(), s.ID[:6]); err != nil {
		t.Fatal(err)
	}
	h.stepUntil(4, "notification after the silence expired", func() bool { return rcv.count() == 1 })
	if got := h.engine.Silences(); got[0].Status != SilenceExpired {
		t.Fatalf("silence status %q after expire", got[0].Status)
	}
}

func TestInhibitionByInstanceDown(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname", "service")),
		rule("SlowQueries", `slow_queries > 0`, "P2", 2*time.Minute))
	h := newHarness(t, c, nil)
	// A service without metrics: has no `up`; tug's own health checks
	// give every instance tug_instance_up.
	h.set(constant(0), "__name__", "tug_instance_up", "job", "tug", "service", "web", "environment", "staging", "release", "r1", "instance", "web-1")
	h.set(constant(3), "__name__", "slow_queries", "service", "web")
	h.set(constant(3), "__name__", "slow_queries", "service", "api")
	h.step(30)
	var got []string
	for _, m := range rcv.messages(t) {
		got = append(got, alertNames(m)...)
	}
	slices.Sort(got)
	want := []string{"InstanceDown/web/firing", "SlowQueries/api/firing"}
	if !slices.Equal(got, want) {
		t.Fatalf("notified %v, want %v (SlowQueries of web inhibited)", got, want)
	}
	for _, a := range h.engine.Alerts() {
		if a.Name == "SlowQueries" && a.Labels["service"] == "web" && a.InhibitedBy == "" {
			t.Errorf("SlowQueries/web not shown as inhibited: %+v", a)
		}
	}
}

func TestAckStopsRepeats(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	r := fastRoute("ops", nil, "alertname")
	r.RepeatInterval = dur(2 * time.Minute)
	c := webService(webhookTo(rcv.srv.URL, r), rule("QueueFull", `queue_depth > 100`, "P1", 0))
	h := newHarness(t, c, nil)
	depth := 500.0
	h.set(func() float64 { return depth }, "__name__", "queue_depth", "service", "web")
	h.step(4 * 10) // 10 minutes firing
	repeats := rcv.count()
	if repeats < 4 {
		t.Fatalf("%d notifications in 10m with a 2m repeat, want >= 4", repeats)
	}
	a := h.engine.Alerts()[0]
	ack, err := h.engine.Acknowledge(t.Context(), a.ID, AckRequest{By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.engine.Alerts()[0].AckedBy; got != "ann" {
		t.Fatalf("AckedBy = %q", got)
	}
	if st, _ := h.state.Acks(t.Context()); len(st) != 1 || st[0].Fingerprint != ack.Fingerprint {
		t.Fatalf("ack not persisted: %+v", st)
	}
	h.step(4 * 10)
	if rcv.count() != repeats {
		t.Fatalf("%d repeats after ack, want none", rcv.count()-repeats)
	}
	depth = 0 // resolves: the resolution is still sent, the ack is gone
	h.stepUntil(8, "resolved notification", func() bool { return rcv.count() == repeats+1 })
	if st, _ := h.state.Acks(t.Context()); len(st) != 0 {
		t.Fatalf("ack kept after resolution: %+v", st)
	}
	depth = 500 // fires again: notified and repeated again
	h.step(4 * 6)
	if n := rcv.count() - repeats - 1; n < 2 {
		t.Fatalf("%d notifications after refiring, want first + repeats", n)
	}
	if _, err := h.engine.Acknowledge(t.Context(), "ffffffff", AckRequest{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ack of unknown alert: %v", err)
	}
}

func TestRouteMatchBySeverityRegex(t *testing.T) {
	t.Parallel()
	pager, chat := newReceiver(t), newReceiver(t)
	pagerRoute := fastRoute("pager", map[string]string{"severity": "P0|P1"}, "alertname")
	pagerRoute.Continue = true
	n := &config.Notify{
		Channels: []*config.Channel{
			{Name: "pager", Webhook: &config.URLChannel{URL: pager.srv.URL}},
			{Name: "chat", Slack: &config.URLChannel{URL: chat.srv.URL}},
		},
		Routes: []*config.NotifyRoute{
			pagerRoute,
			fastRoute("chat", map[string]string{"severity": "warning", "service": "web"}, "alertname"),
		},
	}
	c := webService(n,
		rule("Down", `down_flag > 0`, "critical", 0),
		rule("Slow", `slow_flag > 0`, "P2", 0),
		rule("Noise", `noise_flag > 0`, "info", 0),
	)
	h := newHarness(t, c, nil)
	h.set(constant(1), "__name__", "down_flag", "service", "web")
	h.set(constant(1), "__name__", "slow_flag", "service", "web")
	h.set(constant(1), "__name__", "slow_flag", "service", "web2") // service regex is anchored
	h.set(constant(1), "__name__", "noise_flag", "service", "web")
	h.step(6)
	var pagerGot []string
	for _, m := range pager.messages(t) {
		pagerGot = append(pagerGot, alertNames(m)...)
	}
	if want := []string{"Down/web/firing"}; !slices.Equal(pagerGot, want) {
		t.Errorf("pager got %v, want %v", pagerGot, want)
	}
	chat.mu.Lock()
	var chatText []string
	for _, b := range chat.bodies {
		chatText = append(chatText, string(b))
	}
	chat.mu.Unlock()
	all := strings.Join(chatText, "\n")
	// The chat route matches severity "warning" (P2's name) for service
	// web only: Down passes the pager route (continue) but not chat's
	// matchers, and "web" does not match "web2" (anchored).
	if len(chatText) != 1 || !strings.Contains(all, "Slow") || strings.Contains(all, "web2") || strings.Contains(all, "Noise") || strings.Contains(all, "Down") {
		t.Errorf("chat got %d messages:\n%s", len(chatText), all)
	}
	if !strings.Contains(all, `"attachments"`) || !strings.Contains(all, `"text":"[FIRING:1] Slow"`) {
		t.Errorf("chat message is not Slack-shaped: %s", all)
	}
}

func TestGroupingByLabels(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname")),
		rule("DiskFull", `disk_used > 90`, "P2", 0),
		rule("MemFull", `mem_used > 90`, "P2", 0),
	)
	h := newHarness(t, c, nil)
	h.set(constant(95), "__name__", "disk_used", "instance", "a")
	h.set(constant(99), "__name__", "disk_used", "instance", "b")
	h.set(constant(95), "__name__", "mem_used", "instance", "a")
	h.step(2)
	if rcv.count() != 2 {
		t.Fatalf("%d messages, want one per alertname", rcv.count())
	}
	by := map[string]Message{}
	for _, m := range rcv.messages(t) {
		by[m.GroupLabels["alertname"]] = m
	}
	if d := by["DiskFull"]; len(d.Alerts) != 2 || len(d.GroupLabels) != 1 || d.CommonLabels["instance"] != "" {
		t.Errorf("DiskFull message = %+v, want both instances in one group", d)
	}
	if m := by["MemFull"]; len(m.Alerts) != 1 || m.CommonLabels["instance"] != "a" {
		t.Errorf("MemFull message = %+v", m)
	}
	// A new instance joins the DiskFull group: it is sent at the next
	// group_interval, with the others.
	h.set(constant(97), "__name__", "disk_used", "instance", "c")
	h.step(2)
	ms := rcv.messages(t)
	if len(ms) != 3 || len(ms[2].Alerts) != 3 || ms[2].GroupLabels["alertname"] != "DiskFull" {
		t.Fatalf("after a new instance: %d messages, last %+v", len(ms), ms[len(ms)-1])
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.fail = 2
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname")),
		rule("QueueFull", `queue_depth > 100`, "P1", 0))
	h := newHarness(t, c, func(o *Options) { o.Attempts = 3 })
	h.set(constant(500), "__name__", "queue_depth", "service", "web")
	h.stepUntil(3, "delivery", func() bool { return rcv.count() == 1 })
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(h.sleeps, want) {
		t.Errorf("backoff = %v, want %v", h.sleeps, want)
	}
	if got := testutil.ToFloat64(h.engine.sent.WithLabelValues("ops", "failure")); got != 2 {
		t.Errorf("failures counted %v, want 2", got)
	}
	if got := testutil.ToFloat64(h.engine.sent.WithLabelValues("ops", "success")); got != 1 {
		t.Errorf("successes counted %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(h.reg, "tug_notifications_total"); err != nil || n != 2 {
		t.Errorf("registry has %d tug_notifications_total series (%v), want 2", n, err)
	}
	hist, _ := h.engine.History(t.Context(), 0)
	if len(hist) != 1 || hist[0].Attempts != 3 || hist[0].Outcome != OutcomeSent {
		t.Fatalf("history = %+v", hist)
	}

	// A receiver that keeps failing: the notification is recorded failed
	// after every attempt and tried again at the next group interval.
	rcv.mu.Lock()
	rcv.fail = 100
	rcv.mu.Unlock()
	h.set(constant(500), "__name__", "queue_depth", "service", "db")
	h.step(2)
	hist, _ = h.engine.History(t.Context(), 0)
	if hist[0].Outcome != OutcomeFailed || hist[0].Attempts != 3 || !strings.Contains(hist[0].Error, "500") {
		t.Fatalf("failed delivery recorded as %+v", hist[0])
	}
	failedSoFar := len(hist)
	h.step(2)
	hist, _ = h.engine.History(t.Context(), 0)
	if len(hist) <= failedSoFar {
		t.Fatalf("failed notification not retried at the next group interval")
	}
}

func TestPermanentFailureIsNotRetried(t *testing.T) {
	t.Parallel()
	var calls int
	c := webService(&config.Notify{Routes: []*config.NotifyRoute{fastRoute("x", nil)}},
		rule("QueueFull", `queue_depth > 100`, "P1", 0))
	c.Notify.Channels = []*config.Channel{{Name: "x", Webhook: &config.URLChannel{URL: "http://unused"}}}
	h := newHarness(t, c, func(o *Options) {
		o.Channels = map[string]Channel{"x": channelFunc(func(context.Context, *Message) error {
			calls++
			return ErrPermanent
		})}
	})
	h.set(constant(500), "__name__", "queue_depth", "service", "web")
	h.step(2)
	if calls != 1 || len(h.sleeps) != 0 {
		t.Fatalf("permanent failure tried %d times with sleeps %v", calls, h.sleeps)
	}
}

type channelFunc func(context.Context, *Message) error

func (f channelFunc) Send(ctx context.Context, m *Message) error { return f(ctx, m) }
