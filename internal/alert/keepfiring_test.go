package alert

import (
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// TestKeepFiringForAndInterval: keep_firing_for holds a cleared alert
// firing; the evaluation interval comes from monitoring.evaluation_interval
// and is never below 1s.
func TestKeepFiringForAndInterval(t *testing.T) {
	t.Parallel()
	r := rule("QueueFull", `queue_depth > 100`, "P1", 0)
	r.KeepFiringFor = dur(2 * time.Minute)
	c := webService(nil, r)
	h := newHarness(t, c, nil)
	depth := 500.0
	h.set(func() float64 { return depth }, "__name__", "queue_depth", "service", "web")
	h.step(2)
	if h.alertState("QueueFull") != StateFiring {
		t.Fatalf("not firing")
	}
	depth = 0
	h.step(4) // 1 minute after clearing: still firing
	if got := h.alertState("QueueFull"); got != StateFiring {
		t.Fatalf("state %q 1m after clearing, want firing (keep_firing_for 2m)", got)
	}
	h.step(8)
	if got := h.alertState("QueueFull"); got != "" {
		t.Fatalf("state %q 3m after clearing, want resolved", got)
	}

	c.Monitoring = &config.Monitoring{EvaluationInterval: dur(200 * time.Millisecond)}
	if got := newHarness(t, c, nil).engine.Interval(); got != time.Second {
		t.Fatalf("interval %v, want the 1s floor", got)
	}
	c.Monitoring = nil
	if got := newHarness(t, c, nil).engine.Interval(); got != DefaultEvaluationInterval {
		t.Fatalf("default interval %v", got)
	}
}

// TestAdoptOnReload: a reloaded engine keeps pending time and what was
// notified: no second firing notification, and `for` does not restart.
func TestAdoptOnReload(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, fastRoute("ops", nil, "alertname")),
		rule("QueueFull", `queue_depth > 100`, "P1", 0),
		rule("SlowBurn", `queue_depth > 100`, "P2", 2*time.Minute))
	h := newHarness(t, c, nil)
	h.set(constant(500), "__name__", "queue_depth", "service", "web")
	h.step(4) // QueueFull notified, SlowBurn pending for 1m
	if rcv.count() != 1 {
		t.Fatalf("%d notifications before reload", rcv.count())
	}
	h.reload(c)
	h.step(6) // SlowBurn fires 2m after it went pending, not 2m after the reload
	var names []string
	for _, m := range rcv.messages(t)[1:] {
		names = append(names, alertNames(m)...)
	}
	if len(names) != 1 || names[0] != "SlowBurn/web/firing" {
		t.Fatalf("after reload notified %v, want only SlowBurn (QueueFull not again)", names)
	}
}
