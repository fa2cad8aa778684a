package config

// The incident keys of tug.yaml: when firing alerts open incidents, who is
// paged and when it escalates, who is on call, what tug may do on its own
// to remediate, and the optional public status page.

// Incidents says which alerts open incidents and how an incident pages.
type Incidents struct {
	// The severities whose firing alerts open an incident (a notify route's
	// open_for wins for the alerts it matches). Default: [P0, P1]. Example:
	// `open_for: [P0, P1, P2]`.
	OpenFor []string `yaml:"open_for" json:"open_for,omitempty"`
	// How long after an incident of a service opened a new alert of that
	// service joins it instead of opening another, while it is open.
	// Default: 10m. Example: `group_window: 30m`.
	GroupWindow Duration `yaml:"group_window" json:"group_window,omitempty"`
	// How long an incident may stay unacknowledged before it escalates to
	// the next level of escalation. Default: 15m. Example: `ack_timeout:
	// 5m`.
	AckTimeout Duration `yaml:"ack_timeout" json:"ack_timeout,omitempty"`
	// Who is notified, level by level: the first level when an incident
	// opens, the next one each ack_timeout it stays unacknowledged.
	// Default: none (every notify channel hears of incidents, nobody is
	// escalated to). Example: `escalation: [{channel: oncall-primary},
	// {channel: oncall-secondary}]`.
	Escalation []*EscalationLevel `yaml:"escalation" json:"escalation,omitempty"`
	// The URL people reach tug's API by, for the links to incidents and the
	// acknowledgement links in notifications. Default: none (notifications
	// name the CLI command instead). Example: `url:
	// "https://tug.example.com"`.
	URL string `yaml:"url" json:"url,omitempty"`
	// false leaves incidents opened by alerts open when their alerts
	// resolve, for a person to resolve. Default: true (an incident whose
	// alerts have all resolved resolves itself). Example: `auto_resolve:
	// false`.
	AutoResolve *bool `yaml:"auto_resolve" json:"auto_resolve,omitempty"`
	// A public, read-only page of the services' state and the open
	// incidents' public notes, served by the proxy on a route of its own.
	// Default: none. Example: `status_page: {route: status.example.com,
	// title: Shop}`.
	StatusPage *StatusPage `yaml:"status_page" json:"status_page,omitempty"`
}

// EscalationLevel is one level of an incident's escalation.
type EscalationLevel struct {
	// The notify channel this level's notifications go to. Required.
	// Example: `channel: oncall-primary`.
	Channel string `yaml:"channel" json:"channel"`
	// The on-call rotation whose person on call this level pages; the
	// notification names them. Default: none. Example: `oncall: primary`.
	Oncall string `yaml:"oncall" json:"oncall,omitempty"`
}

// StatusPage is the public status page.
type StatusPage struct {
	// The host name, with an optional /path prefix, the proxy serves the
	// page on; it must not be a service's route. Required. Example: `route:
	// status.example.com`.
	Route string `yaml:"route" json:"route"`
	// The page's heading. Default: the project's name. Example: `title: Shop
	// status`.
	Title string `yaml:"title" json:"title,omitempty"`
}

// Rotation is one on-call rotation: people take turns, handing over at a
// fixed time.
type Rotation struct {
	// The people who take turns, in order. Required. Example: `rotation:
	// [ana, ben, carl]`.
	Rotation []string `yaml:"rotation" json:"rotation"`
	// When a shift ends and the next person takes over: a weekday and a time
	// for weekly shifts, or a time for daily ones. Default: "mon 09:00".
	// Example: `handoff: "fri 17:00"`.
	Handoff string `yaml:"handoff" json:"handoff,omitempty"`
	// The IANA time zone of handoff and of the overrides. Default: UTC.
	// Example: `timezone: Europe/Berlin`.
	Timezone string `yaml:"timezone" json:"timezone,omitempty"`
	// Someone standing in for the rotation between two times. Default: none.
	// Example: `overrides: [{who: dan, from: "2026-07-01 09:00", until:
	// "2026-07-08 09:00"}]`.
	Overrides []*OncallOverride `yaml:"overrides" json:"overrides,omitempty"`
}

// OncallOverride puts someone on call instead of the rotation for a while.
type OncallOverride struct {
	// Who is on call instead. Required. Example: `who: dan`.
	Who string `yaml:"who" json:"who"`
	// When the override starts, "YYYY-MM-DD HH:MM" in the rotation's time
	// zone or RFC 3339. Required. Example: `from: "2026-07-01 09:00"`.
	From string `yaml:"from" json:"from"`
	// When it ends, written as from. Required. Example: `until: "2026-07-08
	// 09:00"`.
	Until string `yaml:"until" json:"until"`
}

// Remediation is what tug does by itself when an alert fires on a
// service: roll back a fresh deploy, restart an instance, or add one.
type Remediation struct {
	// The alert that triggers it (a name of alerts, a rule file or the
	// default pack). Required under services; under alerts it is that
	// alert. Example: `alert: HighErrorRate`.
	Alert string `yaml:"alert" json:"alert,omitempty"`
	// rollback (only when the alert fired within `within` after a deploy of
	// the service), restart (the alert's instance, else the first), or
	// scale_out (one more instance, up to max). Required. Example: `action:
	// rollback`.
	Action string `yaml:"action" json:"action"`
	// For rollback: how soon after the service's last deploy the alert must
	// fire for that deploy to be rolled back. Default: 30m. Example:
	// `within: 1h`.
	Within Duration `yaml:"within" json:"within,omitempty"`
	// act does it; propose only posts the action to the incident and its
	// channels for a person to take. Default: act. Example: `mode:
	// propose`.
	Mode string `yaml:"mode" json:"mode,omitempty"`
	// For scale_out: the most instances it scales to. Required with
	// scale_out. Example: `max: 6`.
	Max int `yaml:"max" json:"max,omitempty"`
}

// Remediation actions and modes.
const (
	ActionRollback = "rollback"
	ActionRestart  = "restart"
	ActionScaleOut = "scale_out"
	ModeAct        = "act"
	ModePropose    = "propose"
)

// RemediationActions lists the actions remediation may take.
func RemediationActions() []string { return []string{ActionRollback, ActionRestart, ActionScaleOut} }
