package config

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// dashboardName is what a dashboard may be called: it is a path of the
// web dashboard and a file name of the Grafana export.
var dashboardName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// dashboards checks the dashboards section: names, panels' queries as the
// query API will parse them, units and thresholds.
func (v *validator) dashboards() {
	for _, name := range slices.Sorted(maps.Keys(v.c.Dashboards)) {
		dp := "dashboards." + name
		if !dashboardName.MatchString(name) {
			v.errorKey(dp, dp, "invalid dashboard name %q: use lower-case letters, digits, - and _ (it is a URL path and a file name)", name)
		}
		d := v.c.Dashboards[name]
		if d == nil || len(d.Rows) == 0 {
			v.errorKey(dp+".rows", dp, "a dashboard needs rows: rows: [{panels: [{title: ..., query: ...}]}]")
			continue
		}
		for i, r := range d.Rows {
			rp := joinIndex(dp+".rows", i)
			if r == nil || len(r.Panels) == 0 {
				v.errorKey(rp+".panels", rp, "a row needs panels: panels: [{title: ..., query: ...}]")
				continue
			}
			for j, p := range r.Panels {
				v.dashboardPanel(joinIndex(rp+".panels", j), p)
			}
		}
	}
}

// dashboardPanel checks one panel.
func (v *validator) dashboardPanel(pp string, p *DashboardPanel) {
	if p == nil {
		v.errorKey(pp, pp, "a panel needs a title and a query")
		return
	}
	if strings.TrimSpace(p.Title) == "" {
		v.errorKey(pp+".title", pp, "missing title: the panel's heading")
	}
	if strings.TrimSpace(p.Query) == "" {
		v.errorKey(pp+".query", pp, "missing query: a PromQL expression such as sum(rate(orders_total[5m])) * 60")
	} else {
		v.promQL(pp+".query", p.Query, p.Query)
	}
	v.enum(pp+".unit", p.Unit, PanelUnits()...)
	if t := p.Thresholds; t != nil && t.Warning != nil && t.Critical != nil {
		switch {
		case !t.Below && *t.Critical < *t.Warning:
			v.errorf(pp+".thresholds.critical", "critical (%g) is below warning (%g): values above the lines are the bad ones; set below: true if low values are", *t.Critical, *t.Warning)
		case t.Below && *t.Critical > *t.Warning:
			v.errorf(pp+".thresholds.critical", "critical (%g) is above warning (%g): with below: true, values under the lines are the bad ones", *t.Critical, *t.Warning)
		}
	}
}
