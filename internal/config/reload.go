package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Reload says how a change of one key reaches a running server.
type Reload struct {
	// Applies says how a change takes effect on `tug apply` (or when the
	// server sees the file change); empty when it needs a restart.
	Applies string
	// Restart says why the key needs a restart, and of what.
	Restart string
}

// How keys take effect without a restart.
const (
	byRun       = "read by every `tug run`; the server reads it for each run it starts, from the run's commit"
	byTriggers  = "the server's push, tag and schedule triggers follow at once; runs already started keep theirs"
	byQueue     = "the server's run queue uses it at once: more runs start, or fewer once running ones end"
	byWebhook   = "the next webhook is checked against it"
	byDeploy    = "the next deploy or rollback of the service uses it; running instances keep what they started with"
	byDeployEnv = "the next deploy to the environment uses it"
	byTable     = "the routing table is pushed to the proxy at once"
	byMonitor   = "scraping and health checks follow at once"
	byRules     = "the alert rules are rebuilt at once, keeping firing alerts, silences and acknowledgements"
	byNotify    = "notification channels and routes are rebuilt at once"
	byLoad      = "checked when the file is read; status and the API answer with the config in force"
	byLogs      = "pruning uses the new retention from its next pass"
	byTSDB      = "the metrics store applies the new retention at once"
	byFlags     = "the flag set is pushed to the proxy at once (run-time overrides stay until reset)"
	byFlagEnv   = byFlags + "; a changed env value rolls the flag's services with their deploy strategy"
	byScan      = "read by every `tug scan` and scan job; the server's next rescan of live releases uses it"
	byBackups   = "backup, restore-test and drill schedules, retention and alert rules follow at once; a backup or restore test already running finishes as it started"
	bySecrets   = "the next deploy, rollback or restart reads secrets from the new source; running instances keep their values"
	bySeal      = "the next `tug secret seal` encrypts to the new recipients; sealed files already written keep theirs"
	byRotation  = "rotation schedules are set again at once; a new generated secret with no value yet is generated at once"
	byIncidents = "incidents opened from then on, and the open ones' next escalation, remediation and notification, use it"
	byPages     = "the dashboard's next page view draws it"
)

// proxyRestart is why the proxy's keys need a restart: they are its
// command line, and it keeps running (and serving) across server restarts.
const proxyRestart = "the proxy reads its listeners, certificate and access log when it starts, and keeps running across server restarts: `tug down`, then `tug server` (or `tug up`) starts it with the new settings"

// serverRestart is why the server's own keys need a restart.
const serverRestart = "the server reads it when it starts: restart `tug server` (or `tug up`)"

// reloadTable is how every key of tug.yaml (KeyPaths) takes effect on a
// running server. A test keeps it complete.
func reloadTable() map[string]Reload {
	live := func(how string) Reload { return Reload{Applies: how} }
	t := map[string]Reload{
		"version":                          live(byLoad),
		"project":                          live(byLoad),
		"cache":                            live(byRun),
		"cache.max_size":                   live(byRun),
		"pipelines":                        live(byRun),
		"services":                         live(byDeploy),
		"environments":                     live(byDeployEnv),
		"environments.*.approval":          live(byDeployEnv),
		"environments.*.approval.required": live(byDeployEnv),
		"environments.*.approval.not_by":   live(byDeployEnv),
		"alerts":                           live(byRules),
		"alert_files":                      live(byRules),
		"monitoring":                       live(byMonitor),
		"monitoring.scrape_interval":       live(byMonitor),
		"monitoring.evaluation_interval":   live(byRules),
		"monitoring.retention":             live(byTSDB),
		"monitoring.scrape":                live(byMonitor),
		"monitoring.scrape[].job":          live(byMonitor),
		"monitoring.scrape[].targets":      live(byMonitor),
		"monitoring.scrape[].metrics_path": live(byMonitor),
		"monitoring.default_alerts":        live(byRules),
		"notify":                           live(byNotify),
		"proxy":                            {Restart: proxyRestart},
		"proxy.http":                       {Restart: proxyRestart},
		"proxy.https":                      {Restart: proxyRestart},
		"proxy.tls":                        {Restart: proxyRestart},
		"proxy.tls.cert":                   {Restart: proxyRestart},
		"proxy.tls.key":                    {Restart: proxyRestart},
		"proxy.tls.local_ca":               {Restart: proxyRestart},
		"proxy.tls.acme":                   {Restart: proxyRestart},
		"proxy.tls.acme.email":             {Restart: proxyRestart},
		"proxy.tls.acme.ca":                {Restart: proxyRestart},
		"proxy.tls.acme.ca_root":           {Restart: proxyRestart},
		"proxy.tls.acme.challenge":         {Restart: proxyRestart},
		"proxy.access_log":                 {Restart: proxyRestart},
		"logs":                             live(byLogs),
		"logs.retention":                   live(byLogs),
		"server":                           live(byQueue),
		"server.max_parallel_runs":         live(byQueue),
		"server.registry":                  {Restart: serverRestart},
		"server.registry.listen":           {Restart: serverRestart},
		"server.registry.keep":             {Restart: serverRestart},
		"server.webhooks":                  live(byWebhook),
		"server.webhooks.*.secret":         live(byWebhook),
		"secrets":                          live(bySecrets),
		"secrets.backend":                  live(bySecrets),
		"secrets.key_file":                 live(bySecrets),
		"secrets.recipients":               live(bySeal),
		"secrets.max_age":                  live(byRules),
		"secrets.policies":                 live(byRotation),
		"secrets.policies.*.rotate":        live(byRotation),
		"secrets.policies.*.length":        live(byRotation),
		"secrets.policies.*.max_age":       live(byRules),
		"secrets.address":                  live(bySecrets),
		"secrets.mount":                    live(bySecrets),
		"secrets.path":                     live(bySecrets),
		"secrets.token_secret":             live(bySecrets),
		"secrets.approle":                  live(bySecrets),
		"secrets.approle.role_id":          live(bySecrets),
		"secrets.approle.secret_id_secret": live(bySecrets),
		"secrets.approle.mount":            live(bySecrets),
		"secrets.refresh":                  live(bySecrets),
	}
	for _, k := range KeyPaths() {
		switch {
		case strings.HasPrefix(k, "incidents.status_page"):
			t[k] = live(byTable)
		case k == "incidents", k == "oncall", strings.HasPrefix(k, "incidents."), strings.HasPrefix(k, "oncall."),
			strings.HasPrefix(k, "alerts[].remediation"), k == "notify.routes[].open_for":
			t[k] = live(byIncidents)
		case k == "dashboards", strings.HasPrefix(k, "dashboards."):
			t[k] = live(byPages)
		case strings.HasPrefix(k, "pipelines.*.on"):
			t[k] = live(byTriggers)
		case strings.HasPrefix(k, "pipelines."):
			t[k] = live(byRun)
		case strings.HasPrefix(k, "alerts["):
			t[k] = live(byRules)
		case strings.HasPrefix(k, "notify."):
			t[k] = live(byNotify)
		case k == "backups", strings.HasPrefix(k, "backups."), k == "dr", strings.HasPrefix(k, "dr."):
			t[k] = live(byBackups)
		case strings.HasPrefix(k, "services."):
			t[k] = serviceReload(strings.TrimPrefix(k, "services.*."))
		case k == "flags", strings.HasPrefix(k, "flags."):
			t[k] = live(byFlagEnv)
		case k == "scan", k == "licenses", strings.HasPrefix(k, "scan."), strings.HasPrefix(k, "licenses."):
			t[k] = live(byScan)
		}
	}
	return t
}

// serviceReload is how a key under services.NAME takes effect: most are
// read by the next deploy; routing, health, metrics and alerting keys
// reach the running release at once.
func serviceReload(key string) Reload {
	switch {
	case key == "routes", key == "environments.*.routes", strings.HasPrefix(key, "sticky"):
		return Reload{Applies: byTable}
	case edgeKey(key), edgeKey(strings.TrimPrefix(key, "environments.*.")):
		return Reload{Applies: byTable}
	case strings.HasPrefix(key, "health"):
		return Reload{Applies: byTable + "; " + byMonitor + "; the next deploy gates on it"}
	case strings.HasPrefix(key, "metrics"):
		return Reload{Applies: byMonitor}
	case strings.HasPrefix(key, "slo"), key == "default_alerts":
		return Reload{Applies: byRules}
	case strings.HasPrefix(key, "remediation"):
		return Reload{Applies: byIncidents}
	}
	return Reload{Applies: byDeploy}
}

// edgeKey: a service key the proxy enforces per route (rate limit, body
// limit, headers, HTTPS), carried in the routing table.
func edgeKey(key string) bool {
	for _, k := range []string{"rate_limit", "max_body", "headers", "https"} {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// ReloadOf says how a change of key (a KeyPaths entry) takes effect.
func ReloadOf(key string) (Reload, bool) {
	r, ok := reloadTable()[key]
	return r, ok
}

// Restart is a changed key that a running server does not apply.
type Restart struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// RestartNeeded lists the keys whose value differs between old and new
// and that need a restart to take effect, in KeyPaths order. Only keys
// that hold a value (not a section) are compared, and an absent section
// equals an empty one.
func RestartNeeded(old, new *Config) []Restart {
	if old == nil || new == nil {
		return nil
	}
	table := reloadTable()
	keys := KeyPaths()
	var out []Restart
	for _, k := range keys {
		section := slices.ContainsFunc(keys, func(c string) bool { return strings.HasPrefix(c, k+".") || strings.HasPrefix(c, k+"[]") })
		if r := table[k]; r.Restart != "" && !section && !reflect.DeepEqual(valuesAt(old, k), valuesAt(new, k)) {
			out = append(out, Restart{Key: k, Reason: r.Restart})
		}
	}
	return out
}

// valuesAt collects the values at path ("a.*.b", "a[].b") in c, in a
// stable order, as a list to compare.
func valuesAt(c *Config, path string) []any {
	vals := []reflect.Value{reflect.ValueOf(c).Elem()}
	for _, seg := range splitKeyPath(path) {
		var next []reflect.Value
		for _, v := range vals {
			for v.Kind() == reflect.Pointer {
				if v.IsNil() {
					v = reflect.Zero(v.Type().Elem())
				} else {
					v = v.Elem()
				}
			}
			switch seg {
			case "*":
				if v.Kind() == reflect.Map {
					keys := v.MapKeys()
					slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
					for _, k := range keys {
						next = append(next, v.MapIndex(k))
					}
				}
			case "[]":
				if v.Kind() == reflect.Slice {
					for i := range v.Len() {
						next = append(next, v.Index(i))
					}
				}
			default:
				if v.Kind() != reflect.Struct {
					continue
				}
				for _, f := range fieldsOf(v.Type()) {
					if f.name == seg {
						next = append(next, v.Field(f.index))
					}
				}
			}
		}
		vals = next
	}
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v.Interface()
	}
	return out
}

// splitKeyPath cuts "a.*.b[].c" into a, *, b, [], c.
func splitKeyPath(path string) []string {
	var out []string
	for _, part := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(part, "[]")
		out = append(out, name)
		if list {
			out = append(out, "[]")
		}
	}
	return out
}
