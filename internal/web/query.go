package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
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
func (d *Dashboard) rangeSeries(ctx context.Context, expr string, from, to time.Time, name func(model.Metric) string) ([]Series, error) {
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
			ser.Points = append(ser.Points, Point{T: p.Timestamp.Time(), V: float64(p.Value)})
		}
		out = append(out, ser)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// chart is a chart of the queries' series over from..to; a failed query
// shows as the chart's error.
func (d *Dashboard) chart(ctx context.Context, title, unit string, from, to time.Time, queries ...namedQuery) Chart {
	c := Chart{Title: title, Unit: unit, From: from, To: to}
	for _, q := range queries {
		s, err := d.rangeSeries(ctx, q.expr, from, to, q.name)
		if err != nil {
			c.Err = err.Error()
			return c
		}
		c.Series = append(c.Series, s...)
	}
	return c
}

// namedQuery is a chart's query and how its series are named.
type namedQuery struct {
	expr string
	name func(model.Metric) string
}

// byLabels names a series by the values of labels, with a prefix.
func byLabels(prefix string, labels ...string) func(model.Metric) string {
	return func(m model.Metric) string {
		parts := []string{}
		if prefix != "" {
			parts = append(parts, prefix)
		}
		for _, l := range labels {
			if v := m[model.LabelName(l)]; v != "" {
				parts = append(parts, string(v))
			}
		}
		if len(parts) == 0 {
			return m.String()
		}
		return strings.Join(parts, " ")
	}
}

// instant evaluates expr now; a result that is not a vector is empty.
func (d *Dashboard) instant(ctx context.Context, expr string) (model.Vector, error) {
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
func (d *Dashboard) single(ctx context.Context, expr string) (float64, bool) {
	vec, err := d.instant(ctx, expr)
	if err != nil || len(vec) == 0 {
		return 0, false
	}
	return float64(vec[0].Value), true
}

// sel is a PromQL label selector body: service="x",environment="y".
func sel(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+strconv.Quote(kv[i+1]))
		}
	}
	return strings.Join(parts, ",")
}
