package e2e

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// incidentYAML: a canary service scraped and evaluated every second, an
// alert on its 5xx share, a rollback remediation for it, and incidents
// paged to a webhook.
const incidentYAML = `version: 1
project: e2e-incident
monitoring: {scrape_interval: 1s, evaluation_interval: 1s}
services:
  web:
    run: exec APP
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    replicas: 1
    routes: ["web.test"]
    default_alerts: false
    deploy:
      strategy: canary
      steps: [{weight: 50, pause: 1s}]
      analysis: {max_error_rate: 0.05}
      deploy_timeout: 30s
      drain_timeout: 1s
    remediation:
      - {alert: WebErrors, action: rollback, within: 30m, mode: act}
alerts:
  - alert: WebErrors
    expr: sum by (service) (rate(tug_proxy_requests_total{service="web",code=~"5.."}[5s])) / sum by (service) (rate(tug_proxy_requests_total{service="web"}[5s])) > 0.05
    for: 2s
    severity: P1
    annotations: {summary: "{{ $labels.service }} answers 5xx"}
incidents:
  ack_timeout: 10m
  escalation: [{channel: oncall}]
notify:
  channels:
    - {name: oncall, webhook: {url: "HOOK"}}
  routes:
    - {match: {severity: "P0|P1"}, channel: oncall, group_by: [alertname, service], group_wait: 1s, group_interval: 1s, repeat_interval: 1h}
`

// incidentJSON is the part of `tug incident show --json` the test reads.
type incidentJSON struct {
	ID             int64    `json:"id"`
	State          string   `json:"state"`
	Severity       string   `json:"severity"`
	Service        string   `json:"service"`
	ResolvedBy     string   `json:"resolved_by"`
	TimeToResolve  *float64 `json:"time_to_resolve_seconds"`
	SuspectedCause *struct {
		Release string `json:"release"`
	} `json:"suspected_cause"`
	Timeline []struct {
		Kind string `json:"kind"`
		Text string `json:"text"`
		Who  string `json:"who"`
	} `json:"timeline"`
}

func (i *incidentJSON) has(kind, text string) bool {
	for _, e := range i.Timeline {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

func (i *incidentJSON) String() string {
	var b strings.Builder
	for _, e := range i.Timeline {
		b.WriteString(e.Kind + " | " + e.Who + " | " + e.Text + "\n")
	}
	return b.String()
}

// incidents runs `tug incident ls --all --json`.
func (p *project) incidents() []incidentJSON {
	p.t.Helper()
	out, errOut, err := p.tug("incident", "ls", "--all", "--json")
	if err != nil {
		p.t.Fatalf("tug incident ls: %v\n%s", err, errOut)
	}
	var list []incidentJSON
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		p.t.Fatalf("tug incident ls --json: %v\n%s", err, out)
	}
	return list
}

func (p *project) incident(id int64) *incidentJSON {
	p.t.Helper()
	out, errOut, err := p.tug("incident", "show", strconv.FormatInt(id, 10), "--json")
	if err != nil {
		p.t.Fatalf("tug incident show: %v\n%s", err, errOut)
	}
	var inc incidentJSON
	if err := json.Unmarshal([]byte(out), &inc); err != nil {
		p.t.Fatalf("tug incident show --json: %v\n%s", err, out)
	}
	return &inc
}

// liveRelease is the ID of web's newest release.
func (p *project) newestRelease() string {
	p.t.Helper()
	out, _, err := p.tug("releases", "web", "--json")
	var rels []struct {
		ID string `json:"id"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rels) != nil || len(rels) == 0 {
		p.t.Fatalf("tug releases web: %v\n%s", err, out)
	}
	return rels[0].ID
}

// TestIncidentFromABadDeploy: the whole incident path through the real
// binary. A canary release passes its analysis, then answers 30% of its
// requests with 500; the error alert fires; an incident opens with that
// deploy in its timeline as the suspected cause; remediation rolls it
// back by itself; the alert resolves; the incident resolves itself with
// its MTTR; the post-mortem names the deploy, the rollback and the count
// of failed requests. Then a notification's acknowledgement command
// acknowledges an incident opened by hand.
func TestIncidentFromABadDeploy(t *testing.T) {
	t.Parallel()
	hook := newHookReceiver()
	srv := httptest.NewServer(hook)
	defer srv.Close()
	p := newProject(t, strings.Replace(incidentYAML, "HOOK", srv.URL+"/hook", 1), goodVersions())
	p.startServer()
	l := startLoad(p.httpAddr, "web.test", 50, 2, 3*time.Minute)
	defer l.stop()
	p.deploy("web", "v1")
	p.deploy("web", "v2") // the canary passes: nothing fails yet
	bad := p.newestRelease()
	if !l.waitVersion("v2", 20, 20*time.Second) {
		t.Fatalf("v2 does not answer: %v", l.recent(5))
	}
	if n := len(p.incidents()); n != 0 {
		t.Fatalf("%d incidents before the fault", n)
	}

	// The fault: the live release starts failing 30% of its requests.
	faultAt := time.Now()
	must(t, os.WriteFile(filepath.Join(p.state, "releases", bad, "FAULT"), []byte("0.3\n"), 0o644))

	var inc *incidentJSON
	if !testkit.Poll(60*time.Second, func() bool {
		list := p.incidents()
		if len(list) == 0 {
			return false
		}
		inc = &list[0]
		return true
	}) {
		t.Fatalf("no incident within 60s of the fault\nserver log:\n%s", tail(p.serverLog.String(), 40))
	}
	t.Logf("incident opened %s after the fault", time.Since(faultAt).Round(100*time.Millisecond))
	if inc.Severity != "P1" || inc.Service != "web" {
		t.Errorf("incident = %+v", inc)
	}

	// Rolled back and resolved by itself.
	if !testkit.Poll(90*time.Second, func() bool {
		inc = p.incident(inc.ID)
		return inc.State == "resolved"
	}) {
		t.Fatalf("the incident did not resolve itself: %s\n%s\nserver log:\n%s", inc.State, inc, tail(p.serverLog.String(), 40))
	}
	t.Logf("incident resolved %s after the fault", time.Since(faultAt).Round(100*time.Millisecond))
	if !l.waitVersion("v1", 20, 10*time.Second) {
		t.Errorf("v1 does not answer after the rollback: %v", l.recent(5))
	}
	if inc.ResolvedBy != "tug" || inc.TimeToResolve == nil || *inc.TimeToResolve <= 0 {
		t.Errorf("resolved by %q, time to resolve %v", inc.ResolvedBy, inc.TimeToResolve)
	}
	if inc.SuspectedCause == nil || inc.SuspectedCause.Release != bad {
		t.Errorf("suspected cause = %+v, want %s", inc.SuspectedCause, bad)
	}
	for _, want := range []struct{ kind, text string }{
		{"deploy", "deploy " + bad + " of web"},
		{"alert", "P1 WebErrors fired"},
		{"suspected_cause", "deploy " + bad},
		{"remediation", "rolled back web from " + bad},
		{"rollback", "release " + bad + " of web rolled back"},
		{"state", "mitigating (by tug"},
		{"alert", "WebErrors resolved"},
		{"remediation", "effect of the rollback: WebErrors resolved"},
		{"state", "resolved by tug"},
		{"notification", "notification to oncall sent"},
	} {
		if !inc.has(want.kind, want.text) {
			t.Errorf("timeline lacks %s %q:\n%s", want.kind, want.text, inc)
		}
	}

	out, errOut, err := p.tug("incident", "postmortem", strconv.FormatInt(inc.ID, 10), "--out", "-")
	if err != nil {
		t.Fatalf("postmortem: %v\n%s", err, errOut)
	}
	failed := regexp.MustCompile(`Failed requests: (\d+) answered 5xx`).FindStringSubmatch(out)
	if failed == nil || failed[1] == "0" {
		t.Errorf("the post-mortem counts no failed requests:\n%s", out)
	}
	total, nFailed, _, _ := l.result()
	t.Logf("post-mortem counts %s failed requests; the load saw %d of %d fail", failed, nFailed, total)
	for _, want := range []string{"deploy " + bad + " of web", "rolled back web from " + bad, "tug, on its own", "## Follow-up actions", "- [ ] "} {
		if !strings.Contains(out, want) {
			t.Errorf("the post-mortem lacks %q:\n%s", want, out)
		}
	}

	// A killed server loses nothing: the timeline is whole after a
	// restart, and a runbook step cut short is recorded as interrupted.
	before := len(inc.Timeline)
	must(t, os.MkdirAll(filepath.Join(p.repo, "runbooks"), 0o755))
	must(t, os.WriteFile(filepath.Join(p.repo, "runbooks", "slow.md"), []byte("# Slow\n\n```step\nshell sleep 60\n```\n"), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		p.tugCtx(ctx, "runbook", "run", "slow", "--incident", strconv.FormatInt(inc.ID, 10), "--yes")
	}()
	if !testkit.Poll(20*time.Second, func() bool { return p.incident(inc.ID).has("runbook_step", "runbook slow started") }) {
		t.Fatal("the runbook did not start")
	}
	time.Sleep(300 * time.Millisecond) // the step is running
	p.killServer()
	<-runDone
	p.startServer()
	after := p.incident(inc.ID)
	if after.State != "resolved" || len(after.Timeline) < before+2 || !after.has("runbook_step", "step 1 `shell sleep 60` interrupted") {
		t.Errorf("after SIGKILL and restart (%d entries before):\n%s", before, after)
	}

	// A notification's acknowledgement command works without the API's
	// own credentials: the token it names is enough.
	if _, errOut, err := p.tug("incident", "open", "checkout is slow", "--sev", "P1", "--service", "web"); err != nil {
		t.Fatalf("incident open: %v\n%s", err, errOut)
	}
	var ack string
	if !testkit.Poll(30*time.Second, func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		for _, pl := range hook.payloads {
			ann, _ := pl["commonAnnotations"].(map[string]any)
			if s, _ := ann["acknowledge"].(string); strings.HasPrefix(s, "tug incident ack 2 --token ") {
				ack = s
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no notification of incident 2 with an acknowledgement command")
	}
	out, errOut, err = p.tug(strings.Fields(ack)[1:]...)
	if err != nil || !strings.Contains(out, "acknowledged incident #2") {
		t.Fatalf("%s: %v\n%s%s", ack, err, out, errOut)
	}
	if got := p.incident(2); got.State != "acknowledged" {
		t.Errorf("incident 2 is %s", got.State)
	}
}
