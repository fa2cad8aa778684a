package config

// The dashboards keys of tug.yaml: panels of PromQL queries for what the
// built-in pages do not show, such as business metrics. The web dashboard
// draws them and `tug dashboards export --grafana` writes them for
// Grafana.

// Dashboard is one page of panels, in rows.
type Dashboard struct {
	// The page's heading. Default: the dashboard's name. Example: `title:
	// Business`.
	Title string `yaml:"title" json:"title,omitempty"`
	// The rows of panels, top to bottom. Required. Example: `rows:
	// [{title: Orders, panels: [{title: Orders per minute, query:
	// "sum(rate(orders_total[5m])) * 60"}]}]`.
	Rows []*DashboardRow `yaml:"rows" json:"rows"`
}

// DashboardRow is a row of panels side by side.
type DashboardRow struct {
	// The row's heading. Default: none. Example: `title: Orders`.
	Title string `yaml:"title" json:"title,omitempty"`
	// The panels, left to right. Required. Example: `panels: [{title:
	// Sign-ups per hour, query: "sum(increase(signups_total[1h]))"}]`.
	Panels []*DashboardPanel `yaml:"panels" json:"panels"`
}

// DashboardPanel is one chart of a PromQL query over time.
type DashboardPanel struct {
	// The panel's heading. Required. Example: `title: Orders per minute`.
	Title string `yaml:"title" json:"title"`
	// The PromQL expression charted, one line per series it gives; it must
	// give an instant vector or a scalar. Required. Example: `query:
	// "sum by (plan) (rate(orders_total[5m])) * 60"`.
	Query string `yaml:"query" json:"query"`
	// How values are written on the axis and in tooltips: count,
	// percent (0–100), ratio (0–1, shown as a percentage), seconds, bytes,
	// per_second or per_minute. Default: count. Example: `unit: per_minute`.
	Unit string `yaml:"unit" json:"unit,omitempty"`
	// The series' names in the legend, a template of their labels.
	// Default: the series' labels. Example: `legend: "{{plan}}"`.
	Legend string `yaml:"legend" json:"legend,omitempty"`
	// Lines drawn across the chart where a value becomes worrying, and
	// the colour a panel takes past them. Default: none. Example:
	// `thresholds: {warning: 5, critical: 1, below: true}`.
	Thresholds *Thresholds `yaml:"thresholds" json:"thresholds,omitempty"`
}

// Thresholds are a panel's warning and critical lines.
type Thresholds struct {
	// The value past which the panel shows a warning. Default: none.
	// Example: `warning: 0.5`.
	Warning *float64 `yaml:"warning" json:"warning,omitempty"`
	// The value past which the panel shows it is critical. Default: none.
	// Example: `critical: 0.9`.
	Critical *float64 `yaml:"critical" json:"critical,omitempty"`
	// true when low values are the bad ones (orders per minute falling),
	// so warning and critical apply below their values. Default: false
	// (above). Example: `below: true`.
	Below bool `yaml:"below" json:"below,omitempty"`
}

// PanelUnits are the units a dashboard panel may name.
func PanelUnits() []string {
	return []string{"count", "percent", "ratio", "seconds", "bytes", "per_second", "per_minute"}
}
