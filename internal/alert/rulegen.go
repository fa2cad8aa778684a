package alert

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/tugdev/tug/internal/config"
)

// ConfigFile is the rule-file name under which the groups generated from
// tug.yaml are known (in /api/v1/rules and group keys).
const ConfigFile = "tug.yaml"

// ConfigAlertsGroup is the rule group holding tug.yaml's own alerts, in
// their order (rule i is alerts[i]).
const ConfigAlertsGroup = "alerts"

// Labels tug puts on generated alerts.
const (
	LabelSeverity  = "severity"
	LabelService   = "service"
	LabelAlertName = "alertname"
)

// ConfigGroups builds the rule groups tug.yaml declares: its alerts, the
// default pack of each service and of the hosts (unless turned off), and
// the SLO burn-rate alerts with the recording rules they read. have names
// the recording rules already evaluated elsewhere (the metrics room's), so
// none is recorded twice.
func ConfigGroups(c *config.Config, have map[string]bool) []rulefmt.RuleGroup {
	var groups []rulefmt.RuleGroup
	if len(c.Alerts) > 0 {
		g := rulefmt.RuleGroup{Name: ConfigAlertsGroup}
		for _, a := range c.Alerts {
			g.Rules = append(g.Rules, configRule(a))
		}
		groups = append(groups, g)
	}
	globalDefaults := c.Monitoring == nil || c.Monitoring.DefaultAlerts == nil || *c.Monitoring.DefaultAlerts
	if globalDefaults && len(c.ServiceOrder) > 0 {
		groups = append(groups, rulefmt.RuleGroup{Name: "default:hosts", Rules: withRunbooks(HostPack())})
		groups = append(groups, rulefmt.RuleGroup{Name: "default:tls", Rules: withRunbooks(TLSPack())})
	}
	if globalDefaults && len(c.Backups) > 0 {
		groups = append(groups, rulefmt.RuleGroup{Name: backupGroup, Rules: withRunbooks(BackupPack())})
	}
	if globalDefaults && secretMaxAges(c) {
		groups = append(groups, rulefmt.RuleGroup{Name: "default:secrets", Rules: withRunbooks(SecretPack())})
	}
	for _, name := range c.ServiceOrder {
		s := c.Services[name]
		if s == nil {
			continue
		}
		if globalDefaults && (s.DefaultAlerts == nil || *s.DefaultAlerts) {
			groups = append(groups, rulefmt.RuleGroup{Name: "default:" + name, Rules: withRunbooks(ServicePack(name))})
		}
		if s.SLO != nil && s.SLO.Availability > 0 {
			groups = append(groups, rulefmt.RuleGroup{Name: "slo:" + name, Rules: withRunbooks(SLORules(name, *s.SLO, have))})
		}
	}
	return groups
}

// DefaultRunbook is the runbook tug ships for an alert of its default
// packs, as the rule's runbook annotation names it:
// "runbooks/high-error-rate.md" for HighErrorRate. A project's own file
// at that path wins over the one tug ships.
func DefaultRunbook(alertName string) string {
	var b strings.Builder
	rs := []rune(alertName)
	for i, r := range rs {
		// A word starts at an upper-case letter after a lower-case one,
		// or before one (the L of "CPULoad"): HighCPU is high-cpu.
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte('-')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return "runbooks/" + b.String() + ".md"
}

// withRunbooks gives each alert of a default pack its runbook annotation.
func withRunbooks(rs []rulefmt.Rule) []rulefmt.Rule {
	for i := range rs {
		if rs[i].Alert == "" {
			continue
		}
		if rs[i].Annotations == nil {
			rs[i].Annotations = map[string]string{}
		}
		if rs[i].Annotations["runbook"] == "" {
			rs[i].Annotations["runbook"] = DefaultRunbook(rs[i].Alert)
		}
	}
	return rs
}

// configRule is one alert of tug.yaml as a Prometheus rule; the severity
// becomes a P0..P3 label and the runbook an annotation.
func configRule(a *config.AlertRule) rulefmt.Rule {
	r := rulefmt.Rule{
		Alert:         a.Alert,
		Expr:          a.Expr,
		For:           model.Duration(a.For.D()),
		KeepFiringFor: model.Duration(a.KeepFiringFor.D()),
		Labels:        maps.Clone(a.Labels),
		Annotations:   maps.Clone(a.Annotations),
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	sev := a.Severity
	if sev == "" {
		sev = r.Labels[LabelSeverity]
	}
	if sev == "" {
		sev = DefaultSeverity
	}
	r.Labels[LabelSeverity], _ = Severity(sev)
	if a.Runbook != "" {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations["runbook"] = a.Runbook
	}
	return r
}

// ServicePack is the default alert pack of one service.
func ServicePack(service string) []rulefmt.Rule {
	q := strconv.Quote(service)
	lbl := func(sev string) map[string]string {
		return map[string]string{LabelSeverity: sev, LabelService: service}
	}
	return []rulefmt.Rule{
		{
			Alert:  "HighErrorRate",
			Expr:   fmt.Sprintf("service:error_ratio:rate5m{service=%s} > 0.05", q),
			For:    model.Duration(5 * time.Minute),
			Labels: lbl("P0"),
			Annotations: map[string]string{
				"summary":     "{{ $labels.service }}: {{ $value | humanizePercentage }} of requests fail",
				"description": "More than 5% of the requests to {{ $labels.service }} have failed for 5 minutes.",
			},
		},
		{
			Alert:  "HighLatency",
			Expr:   fmt.Sprintf("service:latency_p95:5m{service=%s} > 2", q),
			For:    model.Duration(10 * time.Minute),
			Labels: lbl("P0"),
			Annotations: map[string]string{
				"summary":     "{{ $labels.service }}: p95 latency is {{ $value | humanizeDuration }}",
				"description": "The 95th percentile latency of {{ $labels.service }} has been above 2s for 10 minutes.",
			},
		},
		{
			// tug_instance_up comes from tug's own health checks, so it
			// covers every instance, scraped (metrics:) or not.
			Alert:  "InstanceDown",
			Expr:   fmt.Sprintf("tug_instance_up{service=%s} == 0", q),
			For:    model.Duration(time.Minute),
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary":     "{{ $labels.service }}: instance {{ $labels.instance }} is down",
				"description": "Instance {{ $labels.instance }} of {{ $labels.service }} ({{ $labels.environment }}, release {{ $labels.release }}) has failed its health check for a minute.",
			},
		},
		{
			Alert:  "CrashLooping",
			Expr:   fmt.Sprintf("tug_instance_crash_looping{service=%s} == 1", q),
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary": "{{ $labels.service }}: instance {{ $labels.instance }} is crash looping",
			},
		},
		// The server's rescans of live releases set tug_scan_findings.
		{
			Alert:  "VulnerableRelease",
			Expr:   fmt.Sprintf(`tug_scan_findings{service=%s,severity="critical"} > 0`, q),
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary": "{{ $labels.service }} ({{ $labels.environment }}): {{ $value }} critical vulnerabilities in the live release; see `tug scan --release {{ $labels.service }}`",
			},
		},
		{
			Alert:  "VulnerableRelease",
			Expr:   fmt.Sprintf(`tug_scan_findings{service=%s,severity="high"} > 0`, q),
			Labels: lbl("P2"),
			Annotations: map[string]string{
				"summary": "{{ $labels.service }} ({{ $labels.environment }}): {{ $value }} high vulnerabilities in the live release; see `tug scan --release {{ $labels.service }}`",
			},
		},
	}
}

// HostPack is the default alert pack of the hosts, read from the node_*
// metrics (named as node_exporter names them).
func HostPack() []rulefmt.Rule {
	const fs = `fstype!~"tmpfs|overlay|squashfs|ramfs"`
	return []rulefmt.Rule{
		{
			Alert:  "HighCPU",
			Expr:   `100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 80`,
			For:    model.Duration(15 * time.Minute),
			Labels: map[string]string{LabelSeverity: "P2"},
			Annotations: map[string]string{
				"summary": "{{ $labels.instance }}: CPU is {{ $value | printf \"%.0f\" }}% busy",
			},
		},
		{
			Alert:  "DiskSpaceLow",
			Expr:   `100 * (1 - node_filesystem_avail_bytes{` + fs + `} / node_filesystem_size_bytes{` + fs + `}) > 85`,
			For:    model.Duration(5 * time.Minute),
			Labels: map[string]string{LabelSeverity: "P2"},
			Annotations: map[string]string{
				"summary": "{{ $labels.instance }}: {{ $labels.mountpoint }} is {{ $value | printf \"%.0f\" }}% full",
			},
		},
	}
}

// secretMaxAges says whether any secret has a max_age to alert on.
func secretMaxAges(c *config.Config) bool {
	if c.Secrets == nil {
		return false
	}
	if c.Secrets.MaxAge > 0 {
		return true
	}
	for _, p := range c.Secrets.Policies {
		if p != nil && p.MaxAge > 0 {
			return true
		}
	}
	return false
}

// SecretPack is the default alert of the secret store: a value older
// than its max_age (tug_secret_* come from the store, at each scrape).
func SecretPack() []rulefmt.Rule {
	return []rulefmt.Rule{{
		Alert:  "SecretTooOld",
		Expr:   "tug_secret_age_seconds > tug_secret_max_age_seconds",
		Labels: map[string]string{LabelSeverity: "P2"},
		Annotations: map[string]string{
			"summary":     "secret {{ $labels.secret }} {{ with $labels.environment }}({{ . }}) {{ end }}is {{ $value | humanizeDuration }} old",
			"description": "The current value of {{ $labels.secret }} is older than its max_age: rotate it with `tug secret rotate {{ $labels.secret }}`.",
		},
	}}
}
