package web

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/config"
)

// Panel is one chart: PromQL queries over time, drawn with a unit, a
// legend and threshold lines. The dashboard's pages and the Grafana export
// are made from the same panels, so the two always show the same thing.
type Panel struct {
	Title   string
	Targets []Target
	// Unit is one of config.PanelUnits ("" is count).
	Unit string
	// Warning and Critical are the threshold lines, nil when not drawn;
	// Below says low values are the bad ones.
	Warning, Critical *float64
	Below             bool
}

// Target is one query of a panel.
type Target struct {
	Expr string
	// Legend names each series from its labels ("p99 {{release}}");
	// empty names it by all its labels.
	Legend string
}

// Row is a row of panels under an optional heading.
type Row struct {
	Title  string
	Panels []Panel
}

// Dashboard is a page of panels in rows.
type Dashboard struct {
	// Name is the dashboard's key in tug.yaml: its URL path and file name.
	Name  string
	Title string
	Rows  []Row
}

// selector is the label matchers of a service's series in an environment
// (all environments when env is empty), with extra matchers appended.
func selector(service, env string, extra ...string) string {
	m := []string{"service=" + strconv.Quote(service)}
	if env != "" {
		m = append(m, "environment="+strconv.Quote(env))
	}
	return "{" + strings.Join(append(m, extra...), ",") + "}"
}

// ServicePanels are a service's RED and resource panels: request rate,
// error ratio and latency quantiles per release (so a canary's release
// shows beside the stable one), then CPU, memory and restarts per
// instance. env narrows them to one environment; "" covers all.
func ServicePanels(service, env string) []Panel {
	all := selector(service, env)
	errs := selector(service, env, `code=~"5.."`)
	quantile := func(q string, name string) Target {
		return Target{
			Expr:   "histogram_quantile(" + q + ", sum by (release, le) (rate(tug_proxy_request_duration_seconds_bucket" + all + "[1m])))",
			Legend: name + " {{release}}",
		}
	}
	return []Panel{
		{Title: "Request rate", Unit: "per_second", Targets: []Target{{
			Expr: "sum by (release) (rate(tug_proxy_requests_total" + all + "[1m]))", Legend: "{{release}}",
		}}},
		{Title: "Error ratio (5xx)", Unit: "ratio", Targets: []Target{{
			Expr: "sum by (release) (rate(tug_proxy_requests_total" + errs + "[1m])) / sum by (release) (rate(tug_proxy_requests_total" + all + "[1m]))", Legend: "{{release}}",
		}}},
		{Title: "Latency", Unit: "seconds", Targets: []Target{quantile("0.5", "p50"), quantile("0.95", "p95"), quantile("0.99", "p99")}},
		{Title: "CPU per instance", Unit: "percent", Targets: []Target{{
			Expr: "100 * rate(tug_instance_cpu_seconds_total" + all + "[1m])", Legend: "{{instance}}",
		}}},
		{Title: "Memory per instance", Unit: "bytes", Targets: []Target{{
			Expr: "tug_instance_resident_memory_bytes" + all, Legend: "{{instance}}",
		}}},
		{Title: "Restarts", Unit: "count", Targets: []Target{{
			Expr: "sum by (instance) (increase(tug_instance_restarts_total" + all + "[5m]))", Legend: "{{instance}}",
		}}},
	}
}

// HostPanels are the host's CPU, memory and disk use, from the node_*
// metrics tug collects itself.
func HostPanels() []Panel {
	return []Panel{
		{Title: "Host CPU", Unit: "percent", Targets: []Target{{
			Expr: `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[1m])))`, Legend: "cpu",
		}}},
		{Title: "Host memory", Unit: "percent", Targets: []Target{{
			Expr: "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)", Legend: "memory",
		}}},
		{Title: "Host disk", Unit: "percent", Targets: []Target{{
			Expr: "100 * (1 - node_filesystem_avail_bytes / node_filesystem_size_bytes)", Legend: "{{mountpoint}}",
		}}},
	}
}

// CustomDashboards are tug.yaml's dashboards, sorted by name.
func CustomDashboards(cfg *config.Config) []Dashboard {
	var out []Dashboard
	for _, name := range slices.Sorted(maps.Keys(cfg.Dashboards)) {
		d := cfg.Dashboards[name]
		if d == nil {
			continue
		}
		dash := Dashboard{Name: name, Title: d.Title}
		if dash.Title == "" {
			dash.Title = name
		}
		for _, r := range d.Rows {
			if r == nil {
				continue
			}
			row := Row{Title: r.Title}
			for _, p := range r.Panels {
				if p == nil {
					continue
				}
				panel := Panel{Title: p.Title, Unit: p.Unit, Targets: []Target{{Expr: p.Query, Legend: p.Legend}}}
				if t := p.Thresholds; t != nil {
					panel.Warning, panel.Critical, panel.Below = t.Warning, t.Critical, t.Below
				}
				row.Panels = append(row.Panels, panel)
			}
			dash.Rows = append(dash.Rows, row)
		}
		out = append(out, dash)
	}
	return out
}
