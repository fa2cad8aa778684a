package web

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tugdev/tug/internal/config"
)

func loadDashboards(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Load("../config/testdata/valid/dashboards.yaml", config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Every built-in panel's query parses as the query API will parse it,
// with the Grafana variables in place of a service and environment too.
func TestBuiltinPanelsParse(t *testing.T) {
	t.Parallel()
	panels := append(ServicePanels("shop", "production"), ServicePanels("$service", "$environment")...)
	panels = append(panels, ServicePanels(`we"ird`, "")...)
	for _, p := range append(panels, HostPanels()...) {
		for _, tg := range p.Targets {
			if _, err := parser.NewParser(parser.Options{}).ParseExpr(tg.Expr); err != nil {
				t.Errorf("%s: %s: %v", p.Title, tg.Expr, err)
			}
		}
	}
}

func TestCustomDashboardsFollowTheConfig(t *testing.T) {
	t.Parallel()
	ds := CustomDashboards(loadDashboards(t))
	if len(ds) != 1 || ds[0].Name != "business" || ds[0].Title != "Business" || len(ds[0].Rows) != 2 {
		t.Fatalf("dashboards: %+v", ds)
	}
	p := ds[0].Rows[0].Panels[0]
	if p.Title != "Orders per minute" || p.Unit != "per_minute" || p.Targets[0].Legend != "{{plan}}" ||
		p.Warning == nil || *p.Warning != 5 || p.Critical == nil || *p.Critical != 1 || !p.Below {
		t.Errorf("panel: %+v", p)
	}
	if got := ds[0].Rows[1].Panels[0].Targets[0].Expr; got != "sum(increase(signups_total[1h]))" {
		t.Errorf("query: %s", got)
	}
}

// grafanaModel is the part of Grafana's dashboard model the export must get right.
type grafanaModel struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type, UID string
		} `json:"datasource"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
		Targets []struct {
			RefID        string `json:"refId"`
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
		FieldConfig struct {
			Defaults struct {
				Unit       string `json:"unit"`
				Thresholds *struct {
					Steps []struct {
						Color string   `json:"color"`
						Value *float64 `json:"value"`
					} `json:"steps"`
				} `json:"thresholds"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
	} `json:"panels"`
}

func TestGrafanaExport(t *testing.T) {
	t.Parallel()
	files, err := GrafanaExport(loadDashboards(t), "http://127.0.0.1:7070")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"business.json", "tug-services.json", "tug-host.json", "datasource.yaml"} {
		if files[name] == nil {
			t.Fatalf("no %s in %v", name, slices.Collect(maps.Keys(files)))
		}
	}
	var biz grafanaModel
	if err := json.Unmarshal(files["business.json"], &biz); err != nil {
		t.Fatal(err)
	}
	if biz.UID != "tug-business" || biz.Title != "Business" {
		t.Errorf("uid %q title %q", biz.UID, biz.Title)
	}
	// Row "Orders" (a row panel), its two panels side by side, then the
	// untitled row's panel below them.
	if len(biz.Panels) != 4 || biz.Panels[0].Type != "row" || biz.Panels[0].Title != "Orders" {
		t.Fatalf("panels: %+v", biz.Panels)
	}
	orders, errs, signups := biz.Panels[1], biz.Panels[2], biz.Panels[3]
	if orders.Type != "timeseries" || orders.GridPos.W != 12 || errs.GridPos.X != 12 || signups.GridPos.Y <= orders.GridPos.Y {
		t.Errorf("layout: %+v %+v %+v", orders.GridPos, errs.GridPos, signups.GridPos)
	}
	if orders.Datasource.UID != GrafanaDatasourceUID || orders.Datasource.Type != "prometheus" {
		t.Errorf("datasource: %+v", orders.Datasource)
	}
	if tg := orders.Targets[0]; tg.RefID != "A" || tg.Expr != "sum by (plan) (rate(orders_total[5m])) * 60" || tg.LegendFormat != "{{plan}}" {
		t.Errorf("target: %+v", tg)
	}
	if orders.FieldConfig.Defaults.Unit != "opm" || errs.FieldConfig.Defaults.Unit != "percentunit" || signups.FieldConfig.Defaults.Unit != "short" {
		t.Errorf("units: %s %s %s", orders.FieldConfig.Defaults.Unit, errs.FieldConfig.Defaults.Unit, signups.FieldConfig.Defaults.Unit)
	}
	// Low is bad for orders: red below 1, orange from 1, green from 5.
	steps := orders.FieldConfig.Defaults.Thresholds.Steps
	if len(steps) != 3 || steps[0].Color != "red" || steps[0].Value != nil || steps[1].Color != "orange" || *steps[1].Value != 1 || steps[2].Color != "green" || *steps[2].Value != 5 {
		t.Errorf("below steps: %+v", steps)
	}
	steps = errs.FieldConfig.Defaults.Thresholds.Steps
	if len(steps) != 3 || steps[0].Color != "green" || steps[1].Color != "orange" || *steps[1].Value != 0.01 || steps[2].Color != "red" || *steps[2].Value != 0.05 {
		t.Errorf("above steps: %+v", steps)
	}
	if signups.FieldConfig.Defaults.Thresholds != nil {
		t.Errorf("a panel without thresholds has some: %+v", signups.FieldConfig.Defaults.Thresholds)
	}

	var svc grafanaModel
	if err := json.Unmarshal(files["tug-services.json"], &svc); err != nil {
		t.Fatal(err)
	}
	if len(svc.Templating.List) != 2 || svc.Templating.List[0].Name != "service" || svc.Templating.List[1].Name != "environment" {
		t.Fatalf("variables: %+v", svc.Templating.List)
	}
	want := ServicePanels("$service", "$environment")
	if len(svc.Panels) != len(want) {
		t.Fatalf("services panels: %d, want %d", len(svc.Panels), len(want))
	}
	for i, p := range want {
		if svc.Panels[i].Title != p.Title || len(svc.Panels[i].Targets) != len(p.Targets) || svc.Panels[i].Targets[0].Expr != p.Targets[0].Expr {
			t.Errorf("panel %d: %+v, want %+v", i, svc.Panels[i], p)
		}
	}
	if lat := svc.Panels[2].Targets; lat[0].LegendFormat != "p50 {{release}}" || lat[1].LegendFormat != "p95 {{release}}" ||
		!strings.Contains(lat[2].Expr, "histogram_quantile(0.99") || lat[2].RefID != "C" || lat[2].LegendFormat != "p99 {{release}}" {
		t.Errorf("latency p99: %+v", svc.Panels[2].Targets)
	}

	ds := string(files["datasource.yaml"])
	for _, want := range []string{"uid: tug", "type: prometheus", "url: http://127.0.0.1:7070", "${TUG_GRAFANA_TOKEN}"} {
		if !strings.Contains(ds, want) {
			t.Errorf("datasource.yaml lacks %q:\n%s", want, ds)
		}
	}
}

func TestGrafanaExportRefusesAFileNameTugUses(t *testing.T) {
	t.Parallel()
	cfg := loadDashboards(t)
	cfg.Dashboards["tug-host"] = cfg.Dashboards["business"]
	if _, err := GrafanaExport(cfg, "http://127.0.0.1:7070"); err == nil || !strings.Contains(err.Error(), "dashboards.tug-host") {
		t.Fatalf("err = %v", err)
	}
}
