package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// monitoringYAML: one service, scraped and evaluated every second, an
// alert on its 5xx share over a short window, and a webhook channel.
const monitoringYAML = `version: 1
project: e2e-monitoring
monitoring: {scrape_interval: 1s, evaluation_interval: 1s}
services:
  web:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    replicas: 1
    routes: ["web.test"]
    default_alerts: false
    slo: {availability: 99.9, window: 1d}
    deploy: {strategy: rolling, deploy_timeout: 15s, drain_timeout: 2s}
alerts:
  - alert: WebErrors
    expr: sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[5s])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[5s])) > 0.05
    for: 2s
    severity: high
    annotations: {summary: "{{ $labels.service }} answers 5xx"}
notify:
  channels:
    - {name: oncall, webhook: {url: "HOOK"}}
  routes:
    - {match: {severity: "P0|P1"}, channel: oncall, group_by: [alertname, service], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
`

// TestAlertThroughTheServer: the whole monitoring path in the real
// server. A deploy whose app answers 500 to 30% of requests makes the
// proxy's counters, scraped into the TSDB, fire an alert after its `for`;
// the webhook gets an Alertmanager v4 payload; a healthy deploy resolves
// it; PromQL and the alert list answer through the CLI.
func TestAlertThroughTheServer(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver()
	srv := httptest.NewServer(hook)
	defer srv.Close()
	versions := append(goodVersions(), version{tag: "erroring", files: map[string]string{"VERSION": "v4\n", "FAIL_RATE": "0.3\n"}})
	p := newProject(t, strings.Replace(monitoringYAML, "HOOK", srv.URL+"/hook", 1), versions)
	p.startServer()
	p.deploy("web", "erroring")
	l := startLoad(p.httpAddr, "web.test", 50, 2, 2*time.Minute)
	defer l.stop()

	firing := hook.wait(t, "firing", "WebErrors", 45*time.Second)
	if firing["version"] != "4" || firing["receiver"] != "oncall" {
		t.Errorf("payload version/receiver = %v/%v, want 4/oncall", firing["version"], firing["receiver"])
	}
	alerts, _ := firing["alerts"].([]any)
	if len(alerts) != 1 {
		t.Fatalf("firing payload has %d alerts: %v", len(alerts), firing)
	}
	a := alerts[0].(map[string]any)
	labels := a["labels"].(map[string]any)
	if labels["alertname"] != "WebErrors" || labels["severity"] != "P1" || labels["service"] != "web" {
		t.Errorf("alert labels = %v", labels)
	}
	if ann := a["annotations"].(map[string]any); ann["summary"] != "web answers 5xx" {
		t.Errorf("annotations = %v", ann)
	}
	out, errOut, err := p.tug("alerts", "--json")
	if err != nil || !strings.Contains(out, "WebErrors") {
		t.Errorf("tug alerts --json: %v\n%s%s", err, out, errOut)
	}
	out, errOut, err = p.tug("query", `sum(tug_proxy_requests_total{service="web"}) > 0`)
	if err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("tug query: %v\n%s%s", err, out, errOut)
	}

	// The SLO's error budget is spent by 30% errors.
	var st struct {
		SLO []struct {
			Service   string  `json:"service"`
			Remaining float64 `json:"remaining"`
		} `json:"slo"`
	}
	out, _, err = p.tug("status", "--json")
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.SLO) != 1 || st.SLO[0].Service != "web" || st.SLO[0].Remaining >= 1 {
		t.Errorf("tug status --json lacks web's spent error budget: %v\n%s", err, out)
	}

	// Logs: the instance's output, the proxy's access log and tug's own.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"logs", "web", "--grep", "listening"}, "app v4 listening"},
		{[]string{"logs", "web", "--since", "5m", "--json"}, `\"status\":500`},
		{[]string{"logs", "tug", "--grep", "release live"}, "release live"},
	} {
		if !testkit.Poll(20*time.Second, func() bool {
			out, _, err := p.tug(c.args...)
			return err == nil && strings.Contains(out, c.want)
		}) {
			out, errOut, err := p.tug(c.args...)
			t.Errorf("tug %s: want %q; got %v\n%s%s", strings.Join(c.args, " "), c.want, err, tail(out, 10), errOut)
		}
	}

	p.deploy("web", "v1")
	hook.wait(t, "resolved", "WebErrors", 45*time.Second)
	out, _, err = p.tug("alerts", "history", "--json")
	if err != nil || !strings.Contains(out, "resolved") || !strings.Contains(out, "firing") {
		t.Errorf("tug alerts history lacks the firing and resolved notifications: %v\n%s", err, out)
	}
}

// hookReceiver records Alertmanager webhook payloads.
type hookReceiver struct {
	mu       sync.Mutex
	payloads []map[string]any
}

func newHookReceiver() *hookReceiver { return &hookReceiver{} }

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.payloads = append(h.payloads, v)
	h.mu.Unlock()
}

// wait returns the first payload with the given status for alertname.
func (h *hookReceiver) wait(t *testing.T, status, alertname string, timeout time.Duration) map[string]any {
	t.Helper()
	var found map[string]any
	if testkit.Poll(timeout, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, p := range h.payloads {
			gl, _ := p["groupLabels"].(map[string]any)
			if p["status"] == status && gl["alertname"] == alertname {
				found = p
				return true
			}
		}
		return false
	}) {
		return found
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("no %s notification within %s; got %s", status, timeout, fmt.Sprint(h.payloads))
	return nil
}
