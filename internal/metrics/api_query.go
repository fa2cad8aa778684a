package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Parameters of the Prometheus endpoints, by Prometheus's names. They
// stay strings: the endpoints parse them as Prometheus does (times as
// Unix seconds or RFC 3339, durations as seconds or "1m30s") and answer
// Prometheus's errors.
type (
	// QueryParams are an instant query's.
	QueryParams struct {
		Query         string `query:"query" doc:"the PromQL expression"`
		Time          string `query:"time" doc:"evaluation time (default: now)"`
		Timeout       string `query:"timeout"`
		LookbackDelta string `query:"lookback_delta"`
		Limit         string `query:"limit" doc:"at most this many series"`
	}
	// RangeParams are a range query's.
	RangeParams struct {
		Query         string `query:"query" doc:"the PromQL expression"`
		Start         string `query:"start"`
		End           string `query:"end"`
		Step          string `query:"step" doc:"resolution, in seconds or as a duration"`
		Timeout       string `query:"timeout"`
		LookbackDelta string `query:"lookback_delta"`
		Limit         string `query:"limit" doc:"at most this many series"`
	}
	// FormatParams are format_query's.
	FormatParams struct {
		Query string `query:"query"`
	}
	// SelectParams select series for series and labels.
	SelectParams struct {
		Match []string `query:"match[]" doc:"series selectors"`
		Start string   `query:"start"`
		End   string   `query:"end"`
		Limit string   `query:"limit"`
	}
	// LabelValuesParams are label/{name}/values'.
	LabelValuesParams struct {
		Name  string   `path:"name"`
		Match []string `query:"match[]" doc:"series selectors"`
		Start string   `query:"start"`
		End   string   `query:"end"`
		Limit string   `query:"limit"`
	}
	// ExemplarParams are query_exemplars'.
	ExemplarParams struct {
		Query string `query:"query"`
		Start string `query:"start"`
		End   string `query:"end"`
	}
)

// QueryResult is the data of query and query_range answers as a client
// reads it: resultType says how to read result (vector, matrix, scalar,
// string).
type QueryResult struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// queryData is the data of query and query_range answers.
type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     json.RawMessage  `json:"result"`
}

// queryOpts reads timeout and lookback_delta; the returned cancel must be
// called.
func (m *Monitor) queryOpts(ctx context.Context, timeout, lookback string) (context.Context, context.CancelFunc, promql.QueryOpts, error) {
	cancel := context.CancelFunc(func() {})
	if s := timeout; s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, nil, nil, badParam("timeout", err)
		}
		if d <= 0 {
			return nil, nil, nil, badParam("timeout", errors.New("timeout must be positive"))
		}
		ctx, cancel = context.WithTimeout(ctx, d)
	}
	var opts promql.QueryOpts
	if s := lookback; s != "" {
		d, err := parseDuration(s)
		if err != nil {
			cancel()
			return nil, nil, nil, badParam("lookback_delta", err)
		}
		opts = promql.NewPrometheusQueryOpts(false, d, nil)
	}
	return ctx, cancel, opts, nil
}

// apiFormatQuery pretty-prints a PromQL expression, as Prometheus's
// format_query (Grafana's query editor offers it).
func (m *Monitor) apiFormatQuery(_ context.Context, p FormatParams) (result, error) {
	expr, err := m.parser.ParseExpr(p.Query)
	if err != nil {
		return result{}, badParam("query", err)
	}
	return result{data: expr.Pretty(0)}, nil
}

func (m *Monitor) apiQuery(ctx context.Context, p QueryParams) (result, error) {
	limit, err := limitParam(p.Limit)
	if err != nil {
		return result{}, err
	}
	ts, err := timeParam("time", p.Time, m.now())
	if err != nil {
		return result{}, err
	}
	ctx, cancel, opts, err := m.queryOpts(ctx, p.Timeout, p.LookbackDelta)
	if err != nil {
		return result{}, err
	}
	defer cancel()
	qs := p.Query
	q, err := m.engine.NewInstantQuery(ctx, m.db, opts, qs, ts)
	if err != nil {
		return result{}, badParam("query", err)
	}
	defer q.Close()
	return m.exec(ctx, q, qs, limit)
}

func (m *Monitor) apiQueryRange(ctx context.Context, p RangeParams) (result, error) {
	limit, err := limitParam(p.Limit)
	if err != nil {
		return result{}, err
	}
	start, err := parseTime(p.Start)
	if err != nil {
		return result{}, badParam("start", err)
	}
	end, err := parseTime(p.End)
	if err != nil {
		return result{}, badParam("end", err)
	}
	if end.Before(start) {
		return result{}, badParam("end", errors.New("end timestamp must not be before start time"))
	}
	step, err := parseDuration(p.Step)
	if err != nil {
		return result{}, badParam("step", err)
	}
	if step <= 0 {
		return result{}, badParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"))
	}
	if end.Sub(start)/step > 11000 {
		return result{}, badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
	}
	ctx, cancel, opts, err := m.queryOpts(ctx, p.Timeout, p.LookbackDelta)
	if err != nil {
		return result{}, err
	}
	defer cancel()
	qs := p.Query
	q, err := m.engine.NewRangeQuery(ctx, m.db, opts, qs, start, end, step)
	if err != nil {
		return result{}, badParam("query", err)
	}
	defer q.Close()
	return m.exec(ctx, q, qs, limit)
}

// exec runs q and shapes its value as Prometheus does: never a JSON null
// for an empty vector or matrix, truncated to limit series with a warning.
func (m *Monitor) exec(ctx context.Context, q promql.Query, qs string, limit int) (result, error) {
	res := q.Exec(ctx)
	if res.Err != nil {
		return result{}, engineError(res.Err)
	}
	warnings := res.Warnings
	val := res.Value
	switch v := val.(type) {
	case promql.Vector:
		if v == nil {
			v = promql.Vector{}
		}
		if limit > 0 && len(v) > limit {
			v = v[:limit]
			warnings.Add(errors.New("results truncated due to limit"))
		}
		val = v
	case promql.Matrix:
		if v == nil {
			v = promql.Matrix{}
		}
		if limit > 0 && len(v) > limit {
			v = v[:limit]
			warnings.Add(errors.New("results truncated due to limit"))
		}
		val = v
	}
	// Encoded here, before the caller closes q: closing hands the value's
	// point slices back to the engine's pool, for the next query to fill.
	raw, err := json.Marshal(val)
	if err != nil {
		return result{}, err
	}
	return result{data: queryData{ResultType: val.Type(), Result: raw}, warnings: warnings, query: qs}, nil
}

func (m *Monitor) apiSeries(ctx context.Context, p SelectParams) (result, error) {
	if len(p.Match) == 0 {
		return result{}, badData("no match[] parameter provided")
	}
	sel, err := m.selectionOf(p)
	if err != nil {
		return result{}, err
	}
	defer sel.q.Close()
	limit, start, end, sets, q := sel.limit, sel.start, sel.end, sel.sets, sel.q
	hints := &storage.SelectHints{Start: timestamp.FromTime(start), End: timestamp.FromTime(end), Func: "series"}
	var set storage.SeriesSet
	if len(sets) > 1 {
		var ss []storage.SeriesSet
		for _, ms := range sets {
			ss = append(ss, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(ss, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, sets[0]...)
	}
	out := []labels.Labels{}
	warnings := set.Warnings()
	for set.Next() {
		out = append(out, set.At().Labels())
		if limit > 0 && len(out) > limit {
			out = out[:limit]
			warnings.Add(errors.New("results truncated due to limit"))
			break
		}
	}
	if err := set.Err(); err != nil {
		return result{}, engineError(err)
	}
	return result{data: out, warnings: warnings}, nil
}

func (m *Monitor) apiLabels(ctx context.Context, p SelectParams) (result, error) {
	return m.labelQuery(ctx, p, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

func (m *Monitor) apiLabelValues(ctx context.Context, p LabelValuesParams) (result, error) {
	name := p.Name
	if len(name) > 3 && name[:3] == "U__" {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return result{}, badData("invalid label name: %q", name)
	}
	sel := SelectParams{Match: p.Match, Start: p.Start, End: p.End, Limit: p.Limit}
	return m.labelQuery(ctx, sel, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

// labelQuery runs a label names or values lookup over start/end and the
// union of the match[] sets, sorted and limited as Prometheus does.
func (m *Monitor) labelQuery(ctx context.Context, p SelectParams, get func(context.Context, storage.Querier, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error)) (result, error) {
	sel, err := m.selectionOf(p)
	if err != nil {
		return result{}, err
	}
	defer sel.q.Close()
	limit, sets, q := sel.limit, sel.sets, sel.q
	hints := &storage.LabelHints{}
	if limit > 0 {
		hints.Limit = limit + 1
	}
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	seen := map[string]struct{}{}
	var warnings annotations.Annotations
	for _, ms := range sets {
		vals, ws, err := get(ctx, q, hints, ms...)
		if err != nil {
			return result{}, &apiError{errExec, http.StatusUnprocessableEntity, err}
		}
		warnings.Merge(ws)
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New("results truncated due to limit"))
	}
	return result{data: out, warnings: warnings}, nil
}

// selection is what series and label lookups read from a request: limit,
// time range, match[] sets, and a querier over the range.
type selection struct {
	limit      int
	start, end time.Time
	sets       [][]*labels.Matcher
	q          storage.Querier
}

// selectionOf parses p and opens a querier; the caller closes it.
func (m *Monitor) selectionOf(p SelectParams) (selection, error) {
	var sel selection
	var err error
	if sel.limit, err = limitParam(p.Limit); err != nil {
		return sel, err
	}
	if sel.start, err = timeParam("start", p.Start, minTime()); err != nil {
		return sel, err
	}
	if sel.end, err = timeParam("end", p.End, maxTime()); err != nil {
		return sel, err
	}
	if sel.sets, err = m.matcherSets(p.Match); err != nil {
		return sel, err
	}
	if sel.q, err = m.db.Querier(timestamp.FromTime(sel.start), timestamp.FromTime(sel.end)); err != nil {
		return sel, engineError(err)
	}
	return sel, nil
}
