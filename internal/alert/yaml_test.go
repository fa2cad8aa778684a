package alert

import (
	"context"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
)

// TestEngineFromTugYAML loads alerting config the way users write it.
func TestEngineFromTugYAML(t *testing.T) {
	t.Parallel()
	src := `version: 1
services:
  web:
    run: ./web
    slo: {availability: 99.9, window: 720h}
monitoring:
  evaluation_interval: 5s
alerts:
  - alert: HighErrorRate
    expr: service:error_ratio:rate5m > 0.05
    for: 5m
    severity: critical
    runbook: runbooks/high-error-rate.md
    annotations: {summary: "{{ $labels.service }} fails"}
notify:
  channels:
    - name: pager
      webhook: {url: "https://pager.example.com/hook"}
    - name: chat
      slack: {url: "https://hooks.example.com/T0/B0"}
    - name: mail
      email: {to: [oncall@example.com], smtp: {host: mail.example.com, port: 587, from: tug@example.com, username: tug, password_secret: SMTP_PASSWORD}}
    - name: am
      alertmanager: {url: "http://127.0.0.1:9093"}
  routes:
    - match: {severity: "P0|critical"}
      channel: pager
      group_by: [alertname, service]
      group_wait: 10s
      group_interval: 1m
      repeat_interval: 4h
      continue: true
    - match: {severity: ".*"}
      channel: chat
`
	c, err := config.Parse("tug.yaml", []byte(src), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	db := newTSDB(t)
	e, err := New(context.Background(), Options{Config: c, Queryable: db, Appendable: db, QueryEngine: newQueryEngine()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if e.Interval().Seconds() != 5 || len(e.routes) != 2 || len(e.channels) != 4 {
		t.Fatalf("interval %v, %d routes, %d channels", e.Interval(), len(e.routes), len(e.channels))
	}
	var names []string
	for _, g := range e.RuleGroups() {
		names = append(names, g.Name())
	}
	want := "alerts default:hosts default:tls default:web slo:web"
	if got := joinStrings(names); got != want {
		t.Fatalf("groups %q, want %q", got, want)
	}
	r := e.RuleGroups()[0].AlertingRules()[0]
	if r.Labels().Get("severity") != "P0" || r.Annotations().Get("runbook") != "runbooks/high-error-rate.md" {
		t.Fatalf("rule labels %v annotations %v", r.Labels(), r.Annotations())
	}
}

func joinStrings(s []string) string { return strings.Join(s, " ") }
