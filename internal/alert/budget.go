package alert

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// Budget is a service's SLO error budget over its window, for `tug status`.
type Budget struct {
	Service string `json:"service"`
	// Objective is the availability target in percent (99.9).
	Objective float64       `json:"objective"`
	Window    time.Duration `json:"window"`
	// ErrorRatio is the share of failed requests over the window.
	ErrorRatio float64 `json:"error_ratio"`
	// Remaining is the fraction of the budget left: 1 untouched, 0 spent,
	// negative overspent.
	Remaining float64 `json:"remaining"`
	// NoData is set when the window saw no requests (Remaining is then 1).
	NoData bool `json:"no_data,omitempty"`
}

// ErrorBudget computes the remaining error budget of a service's SLO at
// the clock's now.
func (e *Engine) ErrorBudget(ctx context.Context, service string) (Budget, error) {
	slo, ok := e.slos[service]
	if !ok {
		return Budget{}, fmt.Errorf("%w: service %q has no slo", ErrNotFound, service)
	}
	b := Budget{Service: service, Objective: slo.Availability, Window: sloWindow(slo), Remaining: 1}
	q, err := e.qe.NewInstantQuery(ctx, e.queryable, nil, budgetExpr(service, b.Window), e.now())
	if err != nil {
		return Budget{}, fmt.Errorf("error budget of %s: %w", service, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return Budget{}, fmt.Errorf("error budget of %s: %w", service, res.Err)
	}
	v, ok := res.Value.(promql.Vector)
	if !ok || len(v) == 0 || math.IsNaN(v[0].F) {
		b.NoData = true
		return b, nil
	}
	b.ErrorRatio = v[0].F
	allowed := 1 - slo.Availability/100
	if allowed <= 0 {
		b.Remaining = 0
		if b.ErrorRatio == 0 {
			b.Remaining = 1
		}
		return b, nil
	}
	b.Remaining = 1 - b.ErrorRatio/allowed
	return b, nil
}

// Budgets is ErrorBudget for every service with an SLO.
func (e *Engine) Budgets(ctx context.Context) ([]Budget, error) {
	var out []Budget
	for _, s := range sortedKeys(e.slos) {
		b, err := e.ErrorBudget(ctx, s)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
