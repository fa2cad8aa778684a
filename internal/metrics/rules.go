package metrics

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"gopkg.in/yaml.v3"
)

// Names of tug's always-on per-service recording rules. Each series is
// labelled by service, environment and release.
const (
	RuleRequestRate = "service:request_rate:rate5m"
	RuleErrorRatio  = "service:error_ratio:rate5m"
	RuleLatencyP95  = "service:latency_p95:5m"
	// RecordingGroup is the rule group holding them.
	RecordingGroup = "tug-service-recording"
)

// RuleSource feeds /api/v1/rules and /api/v1/alerts.
//
// Contract: RuleGroups returns the groups loaded right now, in a stable
// order; it is safe for concurrent use. *rules.Manager implements it.
type RuleSource interface {
	RuleGroups() []*rules.Group
}

var _ RuleSource = (*rules.Manager)(nil)

// RecordingRules are tug's per-service recording rules over the proxy's
// counters (see the package doc for the metric contract):
//
//	service:request_rate:rate5m  requests per second
//	service:error_ratio:rate5m   share of 5xx answers, 0 when there are none
//	service:latency_p95:5m       95th percentile latency in seconds
//
// The alert room's rules.Manager should load them (RecordingRulesYAML
// writes them as a rule file); if no manager runs, set
// Options.EvaluateRecordingRules and the Monitor evaluates them itself.
func RecordingRules() rulefmt.RuleGroups {
	const by = "service, environment, release"
	rate := fmt.Sprintf("sum by (%s) (rate(tug_proxy_requests_total[5m]))", by)
	errs := fmt.Sprintf(`sum by (%s) (rate(tug_proxy_requests_total{code=~"5.."}[5m]))`, by)
	return rulefmt.RuleGroups{Groups: []rulefmt.RuleGroup{{
		Name: RecordingGroup,
		Rules: []rulefmt.Rule{
			{Record: RuleRequestRate, Expr: rate},
			// "or ... * 0" keeps the ratio at 0 (not absent) for a release
			// that has traffic but no 5xx series yet.
			{Record: RuleErrorRatio, Expr: fmt.Sprintf("(%s or %s * 0) / %s", errs, rate, rate)},
			{Record: RuleLatencyP95, Expr: fmt.Sprintf("histogram_quantile(0.95, sum by (%s, le) (rate(tug_proxy_request_duration_seconds_bucket[5m])))", by)},
		},
	}}}
}

// RecordingRulesYAML renders RecordingRules as a Prometheus rule file.
func RecordingRulesYAML() ([]byte, error) {
	return yaml.Marshal(RecordingRules())
}

// EvalRecordingRules evaluates RecordingRules at ts and appends the
// results, marking series that vanished since the last call stale, as
// Prometheus's rule groups do. Use it only when no rules.Manager
// evaluates them (Options.EvaluateRecordingRules runs it periodically).
func (m *Monitor) EvalRecordingRules(ctx context.Context, ts time.Time) error {
	query := rules.EngineQueryFunc(m.engine, m.db)
	var out []labels.Labels
	var vals []float64
	for _, g := range RecordingRules().Groups {
		for _, r := range g.Rules {
			expr, err := m.parser.ParseExpr(r.Expr)
			if err != nil {
				return fmt.Errorf("recording rule %s: %w", r.Record, err)
			}
			vec, err := rules.NewRecordingRule(r.Record, expr, labels.EmptyLabels()).Eval(ctx, 0, ts, query, nil, 0)
			if err != nil {
				return fmt.Errorf("recording rule %s: %w", r.Record, err)
			}
			for _, s := range vec {
				out = append(out, s.Metric)
				vals = append(vals, s.F)
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	app := m.db.AppenderV2(ctx)
	cur := make(seriesSet, len(out))
	t := ts.UnixMilli()
	for i, ls := range out {
		if _, err := app.Append(0, ls, 0, t, vals[i], nil, nil, storage.AOptions{}); err == nil {
			cur[ls.Hash()] = ls
		}
	}
	for h, ls := range m.ruleSeries {
		if _, ok := cur[h]; !ok {
			_, _ = app.Append(0, ls, 0, t, math.Float64frombits(value.StaleNaN), nil, nil, storage.AOptions{})
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	m.ruleSeries = cur
	return nil
}
