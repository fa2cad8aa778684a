package config

// The monitoring and notification keys of tug.yaml: how metrics are
// collected and kept, and where alerts go.

// Monitoring tunes collection and storage of metrics.
type Monitoring struct {
	// How often metrics and health are collected (at least 1s). Default: 15s.
	// Example: `scrape_interval: 30s`.
	ScrapeInterval Duration `yaml:"scrape_interval" json:"scrape_interval,omitempty"`
	// How often alert and recording rules are evaluated (at least 1s).
	// Default: 15s. Example: `evaluation_interval: 30s`.
	EvaluationInterval Duration `yaml:"evaluation_interval" json:"evaluation_interval,omitempty"`
	// How long metrics are kept. Default: 15d. Example: `retention: 30d`.
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
	// Extra targets tug scrapes but does not run. Default: none. Example:
	// `scrape: [{job: postgres, targets: ["127.0.0.1:9187"]}]`.
	Scrape []*ScrapeConfig `yaml:"scrape" json:"scrape,omitempty"`
	// false turns the default alert packs (hosts and every service) off.
	// Default: true. Example: `default_alerts: false`.
	DefaultAlerts *bool `yaml:"default_alerts" json:"default_alerts,omitempty"`
}

// ScrapeConfig is an extra target tug scrapes but does not run.
type ScrapeConfig struct {
	// The job label of the series. Required. Example: `job: postgres`.
	Job string `yaml:"job" json:"job"`
	// host:port addresses to scrape. Required. Example: `targets:
	// ["127.0.0.1:9187"]`.
	Targets []string `yaml:"targets" json:"targets"`
	// The path scraped. Default: /metrics. Example: `metrics_path: /stats`.
	MetricsPath string `yaml:"metrics_path" json:"metrics_path,omitempty"`
}

// Notify declares where alerts go.
type Notify struct {
	// Notification targets, by name. Default: none. Example: `channels:
	// [{name: ops, webhook: {url: "https://ops.example.com/hook"}}]`.
	Channels []*Channel `yaml:"channels" json:"channels,omitempty"`
	// Which alerts go to which channel, first match wins unless continue.
	// Default: every alert to every channel, grouped by alertname and service.
	// Example: `routes: [{match: {severity: P0}, channel: pager}]`.
	Routes []*NotifyRoute `yaml:"routes" json:"routes,omitempty"`
	// Where pipeline runs report pending, success and failure for their
	// commit, as every forge's CI does. Default: nowhere. Example:
	// `commit_status: {forge: gitea, url: https://git.example.com,
	// token_secret: GITEA_TOKEN}`.
	CommitStatus *CommitStatus `yaml:"commit_status" json:"commit_status,omitempty"`
}

// Channel is one notification target; exactly one kind is set.
type Channel struct {
	// The name routes use. Required. Example: `name: pager`.
	Name string `yaml:"name" json:"name"`
	// POSTs Alertmanager's webhook payload to a URL. Exactly one of webhook,
	// slack, email or alertmanager. Example: `webhook: {url:
	// "https://ops.example.com/hook"}`.
	Webhook *URLChannel `yaml:"webhook" json:"webhook,omitempty"`
	// Posts to a Slack incoming webhook. Exactly one of webhook, slack, email
	// or alertmanager. Example: `slack: {url:
	// "https://hooks.slack.com/services/T0/B0/X"}`.
	Slack *URLChannel `yaml:"slack" json:"slack,omitempty"`
	// Sends mail over SMTP. Exactly one of webhook, slack, email or
	// alertmanager. Example: `email: {to: [oncall@example.com], smtp: {host:
	// mail.example.com, from: tug@example.com}}`.
	Email *EmailChannel `yaml:"email" json:"email,omitempty"`
	// Hands alerts to an Alertmanager (v2 API), which groups and routes them
	// itself. Exactly one of webhook, slack, email or alertmanager. Example:
	// `alertmanager: {url: "http://127.0.0.1:9093"}`.
	Alertmanager *URLChannel `yaml:"alertmanager" json:"alertmanager,omitempty"`
}

// URLChannel is a channel reached by one HTTP URL. The URL is a secret:
// a webhook's URL is its credential.
type URLChannel struct {
	// The http:// or https:// URL. Required. Example: `url:
	// "https://ops.example.com/hook"`.
	URL string `yaml:"url" json:"url" secret:"true"`
}

// EmailChannel sends mail over SMTP.
type EmailChannel struct {
	// The recipients. Required. Example: `to: [oncall@example.com]`.
	To []string `yaml:"to" json:"to"`
	// The mail relay. Required. Example: `smtp: {host: mail.example.com, port:
	// 587, from: tug@example.com}`.
	SMTP SMTP `yaml:"smtp" json:"smtp"`
}

// SMTP is a mail relay.
type SMTP struct {
	// The relay's host name. Required. Example: `host: mail.example.com`.
	Host string `yaml:"host" json:"host"`
	// The relay's port. Default: 25. Example: `port: 587`.
	Port int `yaml:"port" json:"port,omitempty"`
	// The sender address. Required. Example: `from: tug@example.com`.
	From string `yaml:"from" json:"from"`
	// The login, when the relay needs one. Default: no login. Example:
	// `username: tug`.
	Username string `yaml:"username" json:"username,omitempty" secret:"true"`
	// The name of the secret holding the password, never the password.
	// Default: no login. Example: `password_secret: SMTP_PASSWORD`.
	Password string `yaml:"password_secret" json:"password_secret,omitempty"`
}

// NotifyRoute sends alerts whose labels match to one channel.
type NotifyRoute struct {
	// Labels and the regular expressions (anchored at both ends) their values
	// must match. Default: every alert. Example: `match: {severity: "P0|P1",
	// service: web}`.
	Match map[string]string `yaml:"match" json:"match,omitempty"`
	// The channel matching alerts go to. Required. Example: `channel: pager`.
	Channel string `yaml:"channel" json:"channel"`
	// Labels whose values make one notification group. Default: none (one
	// group). Example: `group_by: [alertname, service]`.
	GroupBy []string `yaml:"group_by" json:"group_by,omitempty"`
	// How long a new group waits for more alerts before the first
	// notification. Default: 30s. Example: `group_wait: 10s`.
	GroupWait Duration `yaml:"group_wait" json:"group_wait,omitempty"`
	// How long a group waits before notifying about alerts added to it.
	// Default: 5m. Example: `group_interval: 1m`.
	GroupInterval Duration `yaml:"group_interval" json:"group_interval,omitempty"`
	// How often a firing, unacknowledged group is notified again. Default: 4h.
	// Example: `repeat_interval: 1h`.
	RepeatInterval Duration `yaml:"repeat_interval" json:"repeat_interval,omitempty"`
	// Lets later routes match the alert too. Default: false. Example:
	// `continue: true`.
	Continue bool `yaml:"continue" json:"continue,omitempty"`
	// The severities of the alerts this route matches that open an incident,
	// instead of incidents.open_for; [] opens none. Default:
	// incidents.open_for. Example: `open_for: [P0, P1, P2]`.
	OpenFor []string `yaml:"open_for" json:"open_for,omitempty"`
}
