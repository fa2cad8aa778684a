package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/server"
	"github.com/tugdev/tug/internal/store"
)

// alertServer runs an alert engine with one firing alert (QueueFull, P1)
// over a private TSDB, its state in a store in dir, behind httptest.
func alertServer(t *testing.T, dir string, now time.Time) (*alert.Engine, string) {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app := db.Appender(context.Background())
	if _, err := app.Append(0, labels.FromStrings("__name__", "queue_depth", "service", "web"), now.UnixMilli(), 500); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	off := false
	c := &config.Config{Version: 1, Monitoring: &config.Monitoring{DefaultAlerts: &off},
		Alerts: []*config.AlertRule{{Alert: "QueueFull", Expr: "queue_depth > 100", Severity: "high",
			Annotations: map[string]string{"summary": "queue is {{ $value }} deep"}}}}
	e, err := alert.New(context.Background(), alert.Options{Config: c, Queryable: db, Appendable: db,
		QueryEngine: promql.NewEngine(promql.EngineOpts{MaxSamples: 1e5, Timeout: 10 * time.Second}),
		Now:         func() time.Time { return now }, State: server.NewAlertState(st)})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(context.Background())
	h, err := api.NewHandler(api.Options{Alerts: func() *alert.Engine { return e }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return e, srv.URL
}

func runTug(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errOut, LookupEnv: func(k string) (string, bool) {
		if k == "USER" {
			return "ann", true
		}
		return "", false
	}}
	code := Run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

func TestAlertsAndSilenceCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	_, url := alertServer(t, dir, now)

	code, out, errOut := runTug(t, "--server", url, "alerts")
	if code != 0 || !strings.Contains(out, "P1") || !strings.Contains(out, "QueueFull") || !strings.Contains(out, "firing") || !strings.Contains(out, "queue is 500 deep") {
		t.Fatalf("tug alerts = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runTug(t, "--server", url, "alerts", "--json")
	var as []alert.Alert
	if err := json.Unmarshal([]byte(out), &as); code != 0 || err != nil || len(as) != 1 || as[0].Severity != "P1" || as[0].State != "firing" {
		t.Fatalf("tug alerts --json = %d %s", code, out)
	}

	code, out, errOut = runTug(t, "--server", url, "silence", "add", `alertname=QueueFull,service=~"w.*"`, "--for", "2h", "--comment", "deploy")
	if code != 0 || !strings.Contains(out, `alertname="QueueFull",service=~"w.*"`) {
		t.Fatalf("silence add = %d\n%s%s", code, out, errOut)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	code, _, errOut = runTug(t, "--server", url, "silence", "add", `alertname=~"(`)
	if code != exitBadInput || !strings.Contains(errOut, "matcher") {
		t.Fatalf("bad matchers = %d %s", code, errOut)
	}
	code, out, _ = runTug(t, "--server", url, "silence", "ls")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "active") || !strings.Contains(out, "ann") {
		t.Fatalf("silence ls = %d\n%s", code, out)
	}
	code, out, _ = runTug(t, "--server", url, "alerts")
	if !strings.Contains(out, "silenced by "+id[:8]) {
		t.Fatalf("alerts does not show the silence:\n%s", out)
	}

	code, out, errOut = runTug(t, "--server", url, "alerts", "ack", as[0].ID[:6])
	if code != 0 || !strings.Contains(out, "acknowledged "+as[0].ID[:8]) {
		t.Fatalf("ack = %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runTug(t, "--server", url, "alerts", "ack", "zzzz")
	if code != exitBadInput || !strings.Contains(errOut, "not found") {
		t.Fatalf("ack unknown = %d %s", code, errOut)
	}

	code, out, _ = runTug(t, "--server", url, "silence", "expire", id[:6])
	if code != 0 || !strings.Contains(out, "expired") {
		t.Fatalf("expire = %d %s", code, out)
	}
	code, out, _ = runTug(t, "--server", url, "silence", "ls", "--json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("silence ls after expire = %s", out)
	}
	code, out, _ = runTug(t, "--server", url, "silence", "ls", "--all", "--json")
	if code != 0 || !strings.Contains(out, `"status":"expired"`) {
		t.Fatalf("silence ls --all = %s", out)
	}
	code, out, _ = runTug(t, "--server", url, "alerts", "history")
	if code != 0 || !strings.Contains(out, "no notifications sent yet") {
		t.Fatalf("history = %d %s", code, out)
	}

	// A restarted engine on the same store keeps the silence and the ack.
	e2, _ := alertServer(t, dir, now)
	if ss := e2.Silences(); len(ss) != 1 || ss[0].ID != id || ss[0].Status != alert.SilenceExpired {
		t.Fatalf("silences after restart = %+v", ss)
	}
	if got := e2.Alerts(); len(got) != 1 || got[0].AckedBy != "ann" {
		t.Fatalf("ack lost across restart: %+v", got)
	}
}

func TestAlertStateHistoryRoundTrip(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := server.NewAlertState(st)
	n := alert.Notification{At: time.Unix(100, 0).UTC(), Channel: "ops", Kind: "webhook", GroupKey: "{}:{}", Status: "firing",
		Outcome: "failed", Attempts: 5, Error: "500", Alerts: []alert.NotifiedAlert{{ID: "abc", Name: "X", Status: "firing", Severity: "P0"}}}
	if _, err := s.AddNotification(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	got, err := s.Notifications(context.Background(), 10)
	if err != nil || len(got) != 1 {
		t.Fatal(got, err)
	}
	n.ID = got[0].ID
	if a, b := jsonOf(got[0]), jsonOf(n); a != b {
		t.Fatalf("round trip:\n%s\n%s", a, b)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
