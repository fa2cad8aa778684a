package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tugdev/tug/internal/config"
)

type dashboardsData struct {
	All []Dashboard
	// Shown is the dashboard drawn, nil on the list.
	Shown  *Dashboard
	Rows   []chartRow
	Range  string
	Ranges []string
}

// chartRow is a dashboard's row as drawn.
type chartRow struct {
	Title  string
	Charts []Chart
}

// customDashboards are tug.yaml's dashboards in force, read through the
// config API.
func (d *Handler) customDashboards(ctx context.Context) ([]Dashboard, error) {
	cfg, err := d.client.Config(ctx)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Dashboards map[string]*config.Dashboard `json:"dashboards"`
	}
	if err := json.Unmarshal(cfg.Config, &doc); err != nil {
		return nil, err
	}
	return CustomDashboards(&config.Config{Dashboards: doc.Dashboards}), nil
}

// dashboards lists tug.yaml's dashboards; with a name, draws that one's
// rows of panels over the range.
func (d *Handler) dashboards(r *http.Request) (string, any, error) {
	ctx := r.Context()
	all, err := d.customDashboards(ctx)
	if err != nil {
		return "", nil, err
	}
	data := dashboardsData{All: all, Ranges: ranges}
	name := r.PathValue("name")
	if name == "" {
		return "Dashboards", data, nil
	}
	for i := range all {
		if all[i].Name == name {
			data.Shown = &all[i]
		}
	}
	if data.Shown == nil {
		return "", nil, errNotFoundf("no dashboard named %q in tug.yaml", name)
	}
	var dur time.Duration
	data.Range, dur = rangeOf(r)
	to := d.now()
	if !wants(r, "panels") {
		return data.Shown.Title, data, nil
	}
	for _, row := range data.Shown.Rows {
		data.Rows = append(data.Rows, chartRow{Title: row.Title, Charts: d.panelCharts(ctx, row.Panels, to.Add(-dur), to, location(r), nil)})
	}
	return data.Shown.Title, data, nil
}
