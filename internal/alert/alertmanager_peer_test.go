package alert

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

const alertmanagerBin = "/usr/bin/prometheus-alertmanager"

// startAlertmanager runs Debian's prometheus-alertmanager on a loopback
// port with a temp config and storage, and returns its base URL.
func startAlertmanager(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(alertmanagerBin); err != nil {
		t.Skipf("real Alertmanager peer not installed (%s missing): apt-get install prometheus-alertmanager", alertmanagerBin)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfg, []byte("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, alertmanagerBin,
		"--config.file="+cfg,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)
	var logs testkit.SyncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	base := "http://" + addr
	var readyErr error
	if !testkit.Poll(30*time.Second, func() bool {
		var resp *http.Response
		if resp, readyErr = http.Get(base + "/-/ready"); readyErr != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatalf("alertmanager not ready at %s after 30s: %v\n%s", base, readyErr, logs.String())
	}
	return base
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

func listAlertmanager(t *testing.T, base string) []amAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAlertmanagerPeer posts alerts through the alertmanager channel to a
// real Alertmanager and lists them back through its v2 API.
func TestAlertmanagerPeer(t *testing.T) {
	t.Parallel()
	base := startAlertmanager(t)
	n := &config.Notify{
		Channels: []*config.Channel{{Name: "am", Alertmanager: &config.URLChannel{URL: base}}},
		Routes:   []*config.NotifyRoute{fastRoute("am", nil, "alertname")},
	}
	c := webService(n, rule("QueueFull", `queue_depth > 100`, "critical", 0))
	c.Alerts[0].Annotations = map[string]string{"summary": "queue is {{ $value }} deep"}
	// The fake clock runs a little behind the wall clock, so the
	// resolution's endsAt is in the past for Alertmanager.
	h := newHarness(t, c, nil)
	h.clock.Set(time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Second))
	depth := 500.0
	h.set(func() float64 { return depth }, "__name__", "queue_depth", "service", "web")
	h.step(2)
	hist, _ := h.engine.History(t.Context(), 0)
	if len(hist) != 1 || hist[0].Outcome != OutcomeSent {
		t.Fatalf("history = %+v", hist)
	}
	got := listAlertmanager(t, base)
	if len(got) != 1 {
		t.Fatalf("alertmanager has %d alerts, want 1: %+v", len(got), got)
	}
	a := got[0]
	want := Fingerprint(map[string]string{"alertname": "QueueFull", "service": "web", "severity": "P0"})
	if a.Labels["alertname"] != "QueueFull" || a.Labels["severity"] != "P0" || a.Labels["service"] != "web" ||
		a.Annotations["summary"] != "queue is 500 deep" || a.Status.State != "active" || a.Fingerprint != want {
		t.Fatalf("alertmanager alert = %+v (want fingerprint %s)", a, want)
	}
	if want := h.clock.Now().Add(4 * time.Minute); !a.EndsAt.Equal(want) {
		t.Errorf("endsAt %v, want now + 4m (%v): Alertmanager must not resolve it between re-sends", a.EndsAt, want)
	}
	if !a.StartsAt.Equal(h.engine.Alerts()[0].StartsAt) {
		t.Errorf("startsAt %v, want %v", a.StartsAt, h.engine.Alerts()[0].StartsAt)
	}

	// Acknowledged or not, firing alerts are re-sent within a minute, as
	// Prometheus does, so Alertmanager keeps them active.
	if _, err := h.engine.Acknowledge(t.Context(), a.Fingerprint, AckRequest{By: "ann"}); err != nil {
		t.Fatal(err)
	}
	h.step(5)
	hist, _ = h.engine.History(t.Context(), 0)
	if len(hist) < 2 || hist[0].Status != StateFiring {
		t.Fatalf("no re-send to Alertmanager after a minute: %+v", hist)
	}

	// Resolution: the alert is posted with its endsAt and leaves
	// Alertmanager's active list.
	depth = 0
	h.step(3)
	if !testkit.Poll(10*time.Second, func() bool { return len(listAlertmanager(t, base)) == 0 }) {
		t.Fatalf("resolved alert still listed: %+v", listAlertmanager(t, base))
	}
	hist, _ = h.engine.History(t.Context(), 0)
	if hist[0].Status != StateResolved || hist[0].Outcome != OutcomeSent {
		t.Fatalf("history = %+v", hist)
	}
}
