package deploy

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/proxy"
)

// analysis window of one canary step: the canary's own counters at the
// start of the step are subtracted from later snapshots.
func (r *run) canaryStats(ctx context.Context) (proxy.Stats, error) {
	all, err := r.m.opts.Router.Stats(ctx)
	if err != nil {
		return proxy.Stats{}, fmt.Errorf("read canary stats from the proxy: %w", err)
	}
	for _, s := range all {
		if s.Service == r.k.service && s.Environment == r.k.env && s.Release == r.rel.ID {
			return s, nil
		}
	}
	return proxy.Stats{Service: r.k.service, Environment: r.k.env, Release: r.rel.ID}, nil
}

// analyse waits out pause, then until min_requests canary requests were
// seen (bounded by deploy_timeout), and checks the canary's error rate,
// p95 latency and PromQL queries. An error names the threshold and the
// measured value.
func (r *run) analyse(ctx context.Context, pause time.Duration) error {
	base, err := r.canaryStats(ctx)
	if err != nil {
		return err
	}
	if err := sleepCtx(ctx, pause); err != nil {
		return err
	}
	a := r.p.Analysis
	if a == nil {
		return nil
	}
	// The wait for enough traffic is bounded per step, so long pauses do
	// not eat into it.
	deadline := time.Now().Add(r.p.DeployTimeout)
	var d proxy.Stats
	for {
		cur, err := r.canaryStats(ctx)
		if err != nil {
			return err
		}
		d = delta(cur, base)
		if d.Requests >= uint64(max(a.MinRequests, 0)) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("canary analysis: only %d canary requests within deploy_timeout %s, min_requests is %d", d.Requests, r.p.DeployTimeout, a.MinRequests)
		}
		if err := sleepCtx(ctx, r.m.opts.PollInterval); err != nil {
			return err
		}
	}
	var checks []string
	if d.Requests > 0 {
		rate := float64(d.Errors) / float64(d.Requests)
		if a.MaxErrorRate > 0 && rate > a.MaxErrorRate {
			return fmt.Errorf("canary analysis: error rate %.3f (%d of %d requests) exceeds max_error_rate %g", rate, d.Errors, d.Requests, a.MaxErrorRate)
		}
		checks = append(checks, fmt.Sprintf("error rate %.3f", rate))
		if a.MaxP95Latency > 0 {
			p95 := quantile(0.95, d.Buckets)
			if !math.IsNaN(p95) {
				lat := time.Duration(p95 * float64(time.Second))
				if lat > a.MaxP95Latency.D() {
					return fmt.Errorf("canary analysis: p95 latency %s exceeds max_p95_latency %s (%d requests)", lat.Round(time.Millisecond), a.MaxP95Latency.D(), d.Requests)
				}
				checks = append(checks, "p95 "+lat.Round(time.Millisecond).String())
			}
		}
	}
	for _, q := range a.Queries {
		if r.m.opts.Query == nil {
			return fmt.Errorf("canary analysis: query %q: no metrics engine is configured for PromQL analysis", q.Query)
		}
		expr := strings.NewReplacer("$RELEASE", r.rel.ID, "$SERVICE", r.k.service, "$ENVIRONMENT", r.k.env).Replace(q.Query)
		v, err := r.m.opts.Query(ctx, expr)
		if err != nil {
			return fmt.Errorf("canary analysis: query %q: %w", expr, err)
		}
		if q.Max != nil && v > *q.Max {
			return fmt.Errorf("canary analysis: query %q = %g exceeds max %g", expr, v, *q.Max)
		}
		if q.Min != nil && v < *q.Min {
			return fmt.Errorf("canary analysis: query %q = %g is below min %g", expr, v, *q.Min)
		}
		checks = append(checks, fmt.Sprintf("%s = %g", expr, v))
	}
	r.emit("analysis", "canary passed on %d requests: %s", d.Requests, strings.Join(checks, ", "))
	return nil
}

// delta is cur minus base (counters may reset when the proxy restarts:
// then cur alone is the delta).
func delta(cur, base proxy.Stats) proxy.Stats {
	if cur.Requests < base.Requests {
		return cur
	}
	d := proxy.Stats{Service: cur.Service, Environment: cur.Environment, Release: cur.Release,
		Requests: cur.Requests - base.Requests}
	if cur.Errors >= base.Errors {
		d.Errors = cur.Errors - base.Errors
	}
	prev := map[float64]uint64{}
	for _, b := range base.Buckets {
		prev[b.UpperBound] = b.Count
	}
	for _, b := range cur.Buckets {
		c := b.Count
		if p := prev[b.UpperBound]; p <= c {
			c -= p
		}
		d.Buckets = append(d.Buckets, proxy.Bucket{UpperBound: b.UpperBound, Count: c})
	}
	return d
}

// quantile estimates the q-quantile from cumulative buckets the way
// PromQL's histogram_quantile does: linear within the bucket; a result in
// the +Inf bucket is the highest finite bound. NaN without observations.
func quantile(q float64, buckets []proxy.Bucket) float64 {
	bs := append([]proxy.Bucket(nil), buckets...)
	sort.Slice(bs, func(i, j int) bool { return bs[i].UpperBound < bs[j].UpperBound })
	if len(bs) == 0 {
		return math.NaN()
	}
	total := bs[len(bs)-1].Count
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	lowerBound, lowerCount := 0.0, uint64(0)
	for i, b := range bs {
		if float64(b.Count) >= rank {
			if math.IsInf(b.UpperBound, 1) {
				if i == 0 {
					return math.NaN()
				}
				return bs[i-1].UpperBound
			}
			in := b.Count - lowerCount
			if in == 0 {
				return b.UpperBound
			}
			return lowerBound + (b.UpperBound-lowerBound)*(rank-float64(lowerCount))/float64(in)
		}
		lowerBound, lowerCount = b.UpperBound, b.Count
	}
	return bs[len(bs)-1].UpperBound
}
