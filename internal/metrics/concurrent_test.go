package metrics

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/prometheus/model/labels"
)

// TestConcurrentRangeQueriesKeepTheirPoints runs range queries at once
// (a dashboard draws its charts in parallel): each answer equals the one
// the same query gives alone. The engine hands a closed query's point
// slices to the next query, so an answer written after its query is
// closed is another query's (the race detector sees it at once).
func TestConcurrentRangeQueriesKeepTheirPoints(t *testing.T) {
	t.Parallel()
	m := newTestMonitor(t, Options{})
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-time.Hour)
	for s := range 4 {
		appendSeries(t, m, labels.FromStrings("__name__", "x", "s", fmt.Sprint(s)), start, 15*time.Second, 241,
			func(i int) float64 { return float64((s + 1) * i) })
	}
	api, _ := apiClient(t, m)
	queries := []string{`x{s="0"}`, `sum(x)`, `rate(x{s="2"}[1m])`, `x * 2`}
	rng := v1.Range{Start: start, End: end, Step: 15 * time.Second}
	alone := map[string]string{}
	for _, q := range queries {
		v, _, _, err := api.QueryRange(context.Background(), q, rng)
		if err != nil {
			t.Fatal(err)
		}
		alone[q] = v.String()
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 5 {
				q := queries[(g+i)%len(queries)]
				v, _, _, err := api.QueryRange(context.Background(), q, rng)
				if err != nil {
					t.Error(err)
					return
				}
				if v.String() != alone[q] {
					t.Errorf("%s at once differs from alone", q)
				}
			}
		})
	}
	wg.Wait()
}
