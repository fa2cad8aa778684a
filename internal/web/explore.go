package web

import (
	"net/http"
	"sort"
	"time"
)

type exploreData struct {
	Query  string
	Range  string
	Ranges []string
	Chart  *Chart
	// Table is the expression's value now, one row per series.
	Table []exploreRow
	// Error is a bad expression's error, shown under the box.
	Error string
}

type exploreRow struct {
	Series string
	Value  float64
}

// explore is the PromQL box: the expression as a chart over the range
// and as a table of its values now; a bad expression's error inline.
func (d *Handler) explore(r *http.Request) (string, any, error) {
	data := exploreData{Query: r.URL.Query().Get("q"), Ranges: ranges}
	var dur time.Duration
	data.Range, dur = rangeOf(r)
	if data.Query == "" {
		return "Explorer", data, nil
	}
	ctx := r.Context()
	vec, err := d.instant(ctx, data.Query)
	if err != nil {
		data.Error = err.Error()
		return "Explorer", data, nil
	}
	for _, s := range vec {
		data.Table = append(data.Table, exploreRow{Series: s.Metric.String(), Value: float64(s.Value)})
	}
	sort.Slice(data.Table, func(i, j int) bool { return data.Table[i].Series < data.Table[j].Series })
	to := d.now()
	c := d.panelChart(ctx, Panel{Title: data.Query, Targets: []Target{{Expr: data.Query}}}, to.Add(-dur), to)
	c.Loc = location(r)
	data.Chart = &c
	return "Explorer", data, nil
}
