package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/metrics"
)

// ChartPoints is about how many points a chart's series get: a range
// query's step is its range divided by it (a chart is 534 units wide).
const ChartPoints = 150

func promTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// queryError is the message of a failed query: the engine's, for a bad
// expression.
func queryError(err error) string {
	var e *endpoint.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

// rangeSeries evaluates expr from from to to through the API, one series
// per result, named by name (default: the series' labels).
func (d *Handler) rangeSeries(ctx context.Context, expr string, from, to time.Time, name func(model.Metric) string) ([]Series, error) {
	step := max(to.Sub(from)/ChartPoints, time.Second)
	resp, err := d.client.QueryRange(ctx, metrics.RangeParams{Query: expr, Start: promTime(from), End: promTime(to),
		Step: strconv.FormatFloat(step.Seconds(), 'f', -1, 64)})
	if err != nil {
		return nil, errors.New(queryError(err))
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("%s: %s", resp.ErrorType, resp.Error)
	}
	if resp.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("the expression gives a %s, not a range of values", resp.Data.ResultType)
	}
	var mat model.Matrix
	if err := json.Unmarshal(resp.Data.Result, &mat); err != nil {
		return nil, err
	}
	if name == nil {
		name = func(m model.Metric) string { return m.String() }
	}
	out := make([]Series, 0, len(mat))
	for _, s := range mat {
		ser := Series{Name: name(s.Metric), Points: make([]Point, 0, len(s.Values))}
		for _, p := range s.Values {
			// A quantile of no requests is NaN: no point to draw.
			if v := float64(p.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
				ser.Points = append(ser.Points, Point{T: p.Timestamp.Time(), V: v})
			}
		}
		if len(ser.Points) == 0 {
			continue
		}
		out = append(out, ser)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// panelChart draws panel p over from..to, each target's series named by
// its legend, its thresholds as lines; a failed query shows as the
// chart's error.
func (d *Handler) panelChart(ctx context.Context, p Panel, from, to time.Time) Chart {
	c := Chart{Title: p.Title, Unit: p.Unit, From: from, To: to}
	for _, t := range p.Targets {
		s, err := d.rangeSeries(ctx, t.Expr, from, to, legend(t.Legend))
		if err != nil {
			c.Err = err.Error()
			return c
		}
		c.Series = append(c.Series, s...)
	}
	if p.Warning != nil {
		c.Thresholds = append(c.Thresholds, Threshold{Label: "warning", Value: *p.Warning})
	}
	if p.Critical != nil {
		c.Thresholds = append(c.Thresholds, Threshold{Label: "critical", Value: *p.Critical})
	}
	return c
}

// panelCharts draws the panels at once.
func (d *Handler) panelCharts(ctx context.Context, panels []Panel, from, to time.Time, loc *time.Location, markers []Marker) []Chart {
	charts := make([]Chart, len(panels))
	var wg sync.WaitGroup
	for i, p := range panels {
		wg.Go(func() {
			c := d.panelChart(ctx, p, from, to)
			c.Loc, c.Markers = loc, markers
			charts[i] = c
		})
	}
	wg.Wait()
	return charts
}

var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// legend names a series by a template of its labels ("p99 {{release}}"),
// as Grafana and Prometheus do; an empty template names it by all its
// labels.
func legend(tmpl string) func(model.Metric) string {
	return func(m model.Metric) string {
		if tmpl == "" {
			return m.String()
		}
		return legendLabel.ReplaceAllStringFunc(tmpl, func(s string) string {
			return string(m[model.LabelName(legendLabel.FindStringSubmatch(s)[1])])
		})
	}
}

// instant evaluates expr now; a result that is not a vector is empty.
func (d *Handler) instant(ctx context.Context, expr string) (model.Vector, error) {
	resp, err := d.client.Query(ctx, metrics.QueryParams{Query: expr, Time: promTime(d.now())})
	if err != nil {
		return nil, errors.New(queryError(err))
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("%s: %s", resp.ErrorType, resp.Error)
	}
	switch resp.Data.ResultType {
	case "vector":
		var vec model.Vector
		err := json.Unmarshal(resp.Data.Result, &vec)
		return vec, err
	case "scalar":
		var sc model.Scalar
		if err := json.Unmarshal(resp.Data.Result, &sc); err != nil {
			return nil, err
		}
		return model.Vector{{Metric: model.Metric{}, Value: sc.Value, Timestamp: sc.Timestamp}}, nil
	}
	return nil, nil
}

// single is the value of a query with one result, ok false otherwise.
func (d *Handler) single(ctx context.Context, expr string) (float64, bool) {
	vec, err := d.instant(ctx, expr)
	if err != nil || len(vec) == 0 {
		return 0, false
	}
	return float64(vec[0].Value), true
}
