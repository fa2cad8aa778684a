// Package alert is tug's alerting room. It turns the alerts of tug.yaml,
// Prometheus rule files (alert_files), a default alert pack per service and
// host, and SLO burn-rate alerts into Prometheus rule groups evaluated by
// Prometheus's own rules engine; then it routes what fires to notification
// channels (Alertmanager webhook payloads, Slack-compatible webhooks, email,
// an external Alertmanager) with Alertmanager's grouping, waiting and
// repeating semantics, silences, inhibition and acknowledgements.
//
// Severities are P0 (critical) to P3 (low); Prometheus's usual names
// critical, high, warning and info are accepted and shown as P0..P3.
//
// The package imports only config from tug. Persistence goes through the
// small State interface; the server adapts internal/store to it.
package alert
