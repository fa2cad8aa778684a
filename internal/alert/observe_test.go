package alert

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// recorder is an Observer keeping what it hears.
type recorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *recorder) Observe(c Change) { r.mu.Lock(); r.changes = append(r.changes, c); r.mu.Unlock() }

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.changes {
		out = append(out, c.Alert.Name+" "+c.Alert.State)
	}
	return out
}

// TestObserverHearsFiringAndResolved: the observer hears an alert once
// when it fires and once when it resolves, with the route's open_for, and
// a reload in between does not make it hear the firing again.
func TestObserverHearsFiringAndResolved(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rec := &recorder{}
	route := &config.NotifyRoute{Match: map[string]string{"service": "web"}, Channel: "ops", OpenFor: []string{"P2"}}
	c := webService(webhookTo(rcv.srv.URL, route))
	h := newHarness(t, c, func(o *Options) { o.Observer = rec })
	errPct := 0.0
	h.traffic(10, &errPct)
	h.step(24)
	errPct = 30
	h.stepUntil(40, "firing", func() bool { return h.alertState("HighErrorRate") == StateFiring })
	h.step(2)
	if got := rec.states(); len(got) != 1 || got[0] != "HighErrorRate firing" {
		t.Fatalf("heard %v, want one firing", got)
	}
	first := rec.changes[0]
	if first.Alert.Labels["service"] != "web" || first.Alert.Value < 0.05 || first.Alert.StartsAt.IsZero() {
		t.Errorf("change = %+v", first.Alert)
	}
	if len(first.OpenFor) != 1 || first.OpenFor[0] != "P2" {
		t.Errorf("OpenFor = %v, want the route's [P2]", first.OpenFor)
	}
	h.reload(c) // the new engine adopts the firing alert: nothing new to hear
	h.step(2)
	errPct = 0
	h.stepUntil(60, "resolved", func() bool { return len(rec.states()) == 2 })
	if got := rec.states(); got[1] != "HighErrorRate resolved" || rec.changes[1].Alert.EndsAt.IsZero() {
		t.Errorf("heard %v (%+v)", got, rec.changes[1].Alert)
	}
	h.step(10)
	if n := len(rec.states()); n != 2 {
		t.Errorf("heard %d changes, want 2", n)
	}
}

// TestSendThroughAChannel: another room's message goes out through a
// declared channel with the engine's retries and lands in the history;
// an unknown channel is ErrNotFound.
func TestSendThroughAChannel(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.fail = 1
	h := newHarness(t, webService(webhookTo(rcv.srv.URL)), nil)
	a := &Alert{Name: "Incident", State: StateFiring, Labels: map[string]string{"alertname": "Incident", "severity": "P1", "incident": "7"},
		Annotations: map[string]string{"summary": "web fails"}, StartsAt: time.Now()}
	a.ID = Fingerprint(a.Labels)
	n, err := h.engine.Send(context.Background(), "ops", NewMessage("ops", "incident/7", "", nil, []*Alert{a}))
	if err != nil || n.Attempts != 2 || n.Outcome != OutcomeSent || len(n.Alerts) != 1 || n.Alerts[0].Severity != "P1" {
		t.Fatalf("Send = %+v, %v", n, err)
	}
	if ms := rcv.messages(t); len(ms) != 1 || ms[0].CommonAnnotations["summary"] != "web fails" {
		t.Errorf("received %+v", ms)
	}
	if hist, _ := h.engine.History(context.Background(), 0); len(hist) != 1 || hist[0].GroupKey != "incident/7" {
		t.Errorf("history = %+v", hist)
	}
	if _, err := h.engine.Send(context.Background(), "nope", &Message{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown channel: %v", err)
	}
}
