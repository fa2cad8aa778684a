package metrics

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/promql"
)

// Sentinels of Query.
var (
	// ErrNoData: the query returned no sample (no traffic yet, say).
	ErrNoData = errors.New("query returned no data")
	// ErrNotScalar: the query returned more than one series or a range.
	ErrNotScalar = errors.New("query did not return a single value")
	// ErrBadQuery: the expression does not parse.
	ErrBadQuery = errors.New("bad PromQL expression")
)

// Query evaluates expr now and returns its value, for canary analysis:
// the result must be a scalar or a vector of exactly one sample.
func (m *Monitor) Query(ctx context.Context, expr string) (float64, error) {
	q, err := m.engine.NewInstantQuery(ctx, m.db, nil, expr, m.now())
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrBadQuery, expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return 0, fmt.Errorf("query %q: %w", expr, res.Err)
	}
	switch v := res.Value.(type) {
	case promql.Scalar:
		return v.V, nil
	case promql.Vector:
		switch len(v) {
		case 0:
			return 0, fmt.Errorf("%w: %q", ErrNoData, expr)
		case 1:
			if v[0].H != nil {
				return 0, fmt.Errorf("%w: %q returned a histogram", ErrNotScalar, expr)
			}
			return v[0].F, nil
		default:
			return 0, fmt.Errorf("%w: %q returned %d series", ErrNotScalar, expr, len(v))
		}
	default:
		return 0, fmt.Errorf("%w: %q returned a %s", ErrNotScalar, expr, res.Value.Type())
	}
}
