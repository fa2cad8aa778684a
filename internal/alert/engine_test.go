package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares got (JSON) with testdata/name, indented.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", name, err, got)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	pretty = append(pretty, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden (run with -update): %v", err)
	}
	if !bytes.Equal(pretty, want) {
		t.Errorf("%s differs from golden:\n--- got\n%s\n--- want\n%s", name, pretty, want)
	}
}

// TestAlertPathEndToEnd: requests start failing; HighErrorRate of the
// default pack goes pending, fires after its 5m `for`, the webhook gets
// Alertmanager's v4 payload after group_wait, and recovery sends a
// resolved notification.
func TestAlertPathEndToEnd(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	c := webService(webhookTo(rcv.srv.URL, &config.NotifyRoute{
		Match: map[string]string{"severity": "P0|P1"}, Channel: "ops",
		GroupBy: []string{"alertname", "service"}, GroupWait: dur(30 * time.Second),
		GroupInterval: dur(time.Minute), RepeatInterval: dur(time.Hour),
	}))
	h := newHarness(t, c, nil)
	errPct := 0.0
	h.traffic(10, &errPct)
	h.step(24) // 6 minutes of healthy traffic
	if len(h.engine.Alerts()) != 0 {
		t.Fatalf("alerts on healthy traffic: %+v", h.engine.Alerts())
	}

	errPct = 20
	pendingAt := h.stepUntil(8, "HighErrorRate pending", func() bool { return h.alertState("HighErrorRate") == StatePending })
	t.Logf("pending after %d steps", pendingAt)
	start := h.clock.Now()
	h.stepUntil(30, "HighErrorRate firing", func() bool { return h.alertState("HighErrorRate") == StateFiring })
	if held := h.clock.Now().Sub(start); held < 5*time.Minute {
		t.Fatalf("fired %v after pending, before its 5m for", held)
	}
	a := h.engine.Alerts()[0]
	if a.Severity != "P0" || a.SeverityName != "critical" || a.Labels["service"] != "web" {
		t.Fatalf("alert = %+v", a)
	}
	if rcv.count() != 0 {
		t.Fatalf("notified before group_wait")
	}
	h.stepUntil(3, "firing notification", func() bool { return rcv.count() == 1 })
	golden(t, "webhook_firing.json", rcv.raw(0))

	errPct = 0
	h.stepUntil(60, "resolved notification", func() bool { return rcv.count() == 2 })
	golden(t, "webhook_resolved.json", rcv.raw(1))
	ms := rcv.messages(t)
	if ms[1].Status != StateResolved || ms[1].Alerts[0].Status != StateResolved || ms[1].Alerts[0].EndsAt.IsZero() {
		t.Fatalf("second message is not a resolution: %+v", ms[1])
	}
	h.step(20)
	if rcv.count() != 2 {
		t.Fatalf("%d notifications after resolution, want 2", rcv.count())
	}
	hist, _ := h.engine.History(t.Context(), 0)
	if len(hist) != 2 || hist[0].Status != StateResolved || hist[1].Status != StateFiring || hist[0].Outcome != OutcomeSent {
		t.Fatalf("history = %+v", hist)
	}
}

// TestRunLoop drives the engine with real tickers at the 1s minimum
// interval until the alert fires and is delivered, then stops with ctx.
func TestRunLoop(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	r := fastRoute("ops", nil, "alertname")
	r.GroupWait = dur(time.Millisecond)
	c := webService(webhookTo(rcv.srv.URL, r), rule("QueueFull", `queue_depth > 100`, "P1", 0))
	c.Monitoring.EvaluationInterval = dur(time.Second)
	h := newHarness(t, c, func(o *Options) { o.Now = time.Now })
	app := h.db.Appender(t.Context())
	now := time.Now()
	for i := range 3 {
		if _, err := app.Append(0, mustLabels("__name__", "queue_depth", "service", "web"), now.Add(time.Duration(i)*time.Minute).UnixMilli(), 500); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- h.engine.Run(ctx, 50*time.Millisecond) }()
	testkit.Poll(testkit.DefaultWait, func() bool { return rcv.count() > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rcv.count() == 0 {
		t.Fatalf("Run never delivered the alert within 20s")
	}
}

func mustLabels(kv ...string) labels.Labels { return labels.FromStrings(kv...) }
