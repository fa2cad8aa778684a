package web

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tugdev/tug/internal/config"
)

// GrafanaDatasourceUID is the uid every exported panel's data source
// names: the Prometheus data source of grafanaDatasource, tug's own
// Prometheus-compatible API.
const GrafanaDatasourceUID = "tug"

// GrafanaTokenVariable is the environment variable Grafana's provisioning
// reads the API token from; the export never holds a token itself.
const GrafanaTokenVariable = "TUG_GRAFANA_TOKEN"

// grafanaUnits maps a panel unit to Grafana's unit id.
var grafanaUnits = map[string]string{
	"": "short", "count": "short", "percent": "percent", "ratio": "percentunit",
	"seconds": "s", "bytes": "bytes", "per_second": "ops", "per_minute": "opm",
}

// GrafanaExport is what `tug dashboards export --grafana` writes, by file
// name: a Grafana dashboard per custom dashboard of cfg (NAME.json), the
// services dashboard with a service and an environment variable
// (tug-services.json), the host's (tug-host.json), and the provisioning
// file of the data source (datasource.yaml), pointing at apiURL with the
// token taken from $TUG_GRAFANA_TOKEN when Grafana starts.
func GrafanaExport(cfg *config.Config, apiURL string) (map[string][]byte, error) {
	services := Dashboard{Name: "tug-services", Title: "tug: services", Rows: []Row{{Panels: ServicePanels("$service", "$environment")}}}
	host := Dashboard{Name: "tug-host", Title: "tug: host", Rows: []Row{{Panels: HostPanels()}}}
	files := map[string][]byte{}
	add := func(d Dashboard, vars []any) error {
		name := d.Name + ".json"
		if _, dup := files[name]; dup {
			return fmt.Errorf("dashboards.%s: its file %s is one tug writes for its own dashboard: rename it", d.Name, name)
		}
		b, err := json.MarshalIndent(grafanaDashboard(d, vars), "", "  ")
		if err != nil {
			return err
		}
		files[name] = append(b, '\n')
		return nil
	}
	vars := []any{
		grafanaVariable("service", "label_values(tug_proxy_requests_total, service)"),
		grafanaVariable("environment", `label_values(tug_proxy_requests_total{service="$service"}, environment)`),
	}
	if err := add(services, vars); err != nil {
		return nil, err
	}
	if err := add(host, nil); err != nil {
		return nil, err
	}
	for _, d := range CustomDashboards(cfg) {
		if err := add(d, nil); err != nil {
			return nil, err
		}
	}
	files["datasource.yaml"] = []byte(fmt.Sprintf(`# Grafana provisioning: tug's Prometheus-compatible API as a data source.
# Grafana reads the API token (tug token create grafana --role viewer) from $%s.
apiVersion: 1
datasources:
  - name: tug
    uid: %s
    type: prometheus
    access: proxy
    url: %s
    jsonData:
      httpHeaderName1: Authorization
    secureJsonData:
      httpHeaderValue1: "Bearer ${%s}"
`, GrafanaTokenVariable, GrafanaDatasourceUID, apiURL, GrafanaTokenVariable))
	return files, nil
}

// grafanaVariable is a dashboard variable whose values a label takes.
func grafanaVariable(name, query string) map[string]any {
	return map[string]any{
		"name": name, "label": name, "type": "query",
		"datasource": grafanaDatasource(),
		"query":      map[string]any{"query": query, "refId": "tug-" + name},
		"refresh":    2, "sort": 1,
	}
}

func grafanaDatasource() map[string]any {
	return map[string]any{"type": "prometheus", "uid": GrafanaDatasourceUID}
}

// grafanaDashboard is d in Grafana's dashboard JSON model: a row panel per
// titled row, then the row's panels side by side on the 24-column grid.
func grafanaDashboard(d Dashboard, vars []any) map[string]any {
	var panels []any
	id, y := 1, 0
	for _, r := range d.Rows {
		if r.Title != "" {
			panels = append(panels, map[string]any{
				"type": "row", "id": id, "title": r.Title, "collapsed": false,
				"gridPos": map[string]int{"h": 1, "w": 24, "x": 0, "y": y},
			})
			id++
			y++
		}
		w := max(6, 24/max(1, len(r.Panels)))
		x := 0
		for _, p := range r.Panels {
			if x+w > 24 {
				x, y = 0, y+8
			}
			panels = append(panels, grafanaPanel(p, id, x, y, w))
			id++
			x += w
		}
		y += 8
	}
	if vars == nil {
		vars = []any{}
	}
	uid := d.Name
	if !strings.HasPrefix(uid, "tug-") {
		uid = "tug-" + uid
	}
	return map[string]any{
		"uid": uid[:min(len(uid), 40)], "title": d.Title, "tags": []string{"tug"},
		"schemaVersion": 39, "editable": true, "refresh": "30s",
		"time":       map[string]string{"from": "now-6h", "to": "now"},
		"templating": map[string]any{"list": vars},
		"panels":     panels,
	}
}

// grafanaPanel is one time-series panel.
func grafanaPanel(p Panel, id, x, y, w int) map[string]any {
	var targets []any
	for i, t := range p.Targets {
		targets = append(targets, map[string]any{
			"refId": string(rune('A' + i)), "expr": t.Expr, "legendFormat": t.Legend,
			"datasource": grafanaDatasource(),
		})
	}
	defaults := map[string]any{"unit": grafanaUnits[p.Unit]}
	if p.Warning != nil || p.Critical != nil {
		defaults["thresholds"] = map[string]any{"mode": "absolute", "steps": grafanaSteps(p)}
		defaults["custom"] = map[string]any{"thresholdsStyle": map[string]string{"mode": "line"}}
	}
	return map[string]any{
		"type": "timeseries", "id": id, "title": p.Title,
		"datasource":  grafanaDatasource(),
		"gridPos":     map[string]int{"h": 8, "w": w, "x": x, "y": y},
		"targets":     targets,
		"fieldConfig": map[string]any{"defaults": defaults, "overrides": []any{}},
	}
}

// grafanaSteps are Grafana's threshold steps: the colour from each value
// upwards, the first step's value null (minus infinity). Low-is-bad
// panels start red and turn green at the warning line.
func grafanaSteps(p Panel) []any {
	step := func(color string, v *float64) map[string]any {
		if v == nil {
			return map[string]any{"color": color, "value": nil}
		}
		return map[string]any{"color": color, "value": *v}
	}
	var steps []any
	if p.Below {
		first := "red"
		if p.Critical == nil {
			first = "orange"
		}
		steps = append(steps, step(first, nil))
		if p.Critical != nil && p.Warning != nil {
			steps = append(steps, step("orange", p.Critical))
		}
		edge := p.Warning
		if edge == nil {
			edge = p.Critical
		}
		return append(steps, step("green", edge))
	}
	steps = append(steps, step("green", nil))
	if p.Warning != nil {
		steps = append(steps, step("orange", p.Warning))
	}
	if p.Critical != nil {
		steps = append(steps, step("red", p.Critical))
	}
	return steps
}
