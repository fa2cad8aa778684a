package metrics

import (
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tugdev/tug/internal/config"
)

// CheckConfig returns the error New and SetConfig would return for cfg's
// monitoring settings, or nil.
func CheckConfig(cfg *config.Config) error {
	_, err := settingsFrom(cfg)
	return err
}

// instanceMetrics are the tug_instance_* families (see instanceFamilies).
func instanceMetrics() []string {
	return []string{
		"tug_instance_up", "tug_instance_restarts_total", "tug_instance_crash_looping",
		"tug_instance_cpu_seconds_total", "tug_instance_resident_memory_bytes",
	}
}

// ownMetric says whether tug's own sources produce name whatever the
// services expose: its instance figures, the proxy's and the server's
// tug_* families, the host's node_*, Go and process figures, the TSDB's
// prometheus_*, what every scrape adds (up, scrape_*), and the rule
// engine's ALERTS.
func ownMetric(name string) bool {
	if strings.HasPrefix(name, "tug_instance_") {
		return slices.Contains(instanceMetrics(), name)
	}
	switch name {
	case "up", "ALERTS", "ALERTS_FOR_STATE":
		return true
	}
	for _, p := range []string{"tug_", "node_", "go_", "process_", "prometheus_", "scrape_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Unproduced says, once per metric, why no source configured in cfg
// produces a metric that expr selects, so a rule over it could never
// fire; recorded are the series recording rules write. A metric outside
// tug's own can only come from a service with `metrics:` or a
// monitoring.scrape target; one selected for a named service (service=
// or job=) must come from that service's own endpoint.
func Unproduced(cfg *config.Config, expr parser.Expr, recorded map[string]bool) []string {
	scraped := map[string]bool{}
	for name, s := range cfg.Services {
		if s != nil && s.Metrics != nil {
			scraped[name] = true
		}
	}
	if cfg.Monitoring != nil {
		for _, sc := range cfg.Monitoring.Scrape {
			if sc != nil {
				scraped[sc.Job] = true
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name, target := vs.Name, ""
		for _, m := range vs.LabelMatchers {
			if m.Type != labels.MatchEqual {
				continue
			}
			switch m.Name {
			case labels.MetricName:
				name = m.Value
			case "service", "job":
				if cfg.Services[m.Value] != nil {
					target = m.Value
				}
			}
		}
		if name == "" || recorded[name] || seen[name+"\x00"+target] {
			return nil
		}
		seen[name+"\x00"+target] = true
		switch {
		case name == "up" && target != "" && !scraped[target]:
			out = append(out, fmt.Sprintf("up for service %s never exists: it has no metrics: endpoint, so it is never scraped; tug_instance_up{service=%q} comes from its health checks", target, target))
		case ownMetric(name):
		case len(scraped) == 0:
			out = append(out, fmt.Sprintf("no configured source produces %q: beside tug's own metrics (tug_*, node_*, up), metrics come from services with metrics: {path: /metrics} and monitoring.scrape targets, and none is configured", name))
		case target != "" && !scraped[target]:
			out = append(out, fmt.Sprintf("no configured source produces %q for service %s: it has no metrics: endpoint (add metrics: {path: /metrics} to it)", name, target))
		}
		return nil
	})
	return out
}
