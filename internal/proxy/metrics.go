package proxy

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// durationBuckets are the latency buckets of both the Prometheus histogram
// and /stats, so canary analysis and dashboards agree.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics owns the proxy's own Prometheus registry (no globals) and the
// per-release counters behind /stats.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	flags    *prometheus.CounterVec // tug_flag_evaluations_total (ofrep.go)

	mu       sync.Mutex
	releases map[string]*releaseStats
}

// releaseStats are the cumulative counters of one release.
type releaseStats struct {
	service, env, release string
	requests              atomic.Uint64
	errors                atomic.Uint64
	buckets               []atomic.Uint64 // non-cumulative, one per durationBuckets bound
}

// backendMetrics caches the metric children of one backend so the hot path
// does no label hashing: the status-code counters are created once per code.
type backendMetrics struct {
	labels   [4]string
	requests *prometheus.CounterVec
	codes    [600]atomic.Pointer[prometheus.Counter]
	duration prometheus.Observer
	inFlight prometheus.Gauge
	rel      *releaseStats
}

func newMetrics() *metrics {
	labels := []string{"service", "environment", "release", "instance"}
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tug_proxy_requests_total",
			Help: "Requests proxied, by backend and status code.",
		}, append(labels[:4:4], "code")),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tug_proxy_request_duration_seconds",
			Help:    "Time from request received to response finished, by backend.",
			Buckets: durationBuckets,
		}, labels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tug_proxy_requests_in_flight",
			Help: "Requests being served, by backend.",
		}, labels),
		releases: map[string]*releaseStats{},
	}
	m.reg.MustRegister(m.requests, m.duration, m.inFlight)
	m.flags = newFlagMetrics(m.reg)
	return m
}

func (m *metrics) forBackend(b *backend) *backendMetrics {
	bm := &backendMetrics{
		labels:   [4]string{b.service, b.env, b.release, b.instance},
		requests: m.requests,
		duration: m.duration.WithLabelValues(b.service, b.env, b.release, b.instance),
		inFlight: m.inFlight.WithLabelValues(b.service, b.env, b.release, b.instance),
	}
	key := b.service + "\x00" + b.env + "\x00" + b.release
	m.mu.Lock()
	rs := m.releases[key]
	if rs == nil {
		rs = &releaseStats{service: b.service, env: b.env, release: b.release, buckets: make([]atomic.Uint64, len(durationBuckets))}
		m.releases[key] = rs
	}
	m.mu.Unlock()
	bm.rel = rs
	return bm
}

// forget drops the in-flight gauge of a backend that is gone for good, so
// /metrics does not list dead instances forever. Counters stay: they are
// cumulative and Prometheus needs their last value.
func (m *metrics) forget(b *backend) {
	m.inFlight.DeleteLabelValues(b.service, b.env, b.release, b.instance)
}

// observe records one finished request. transportErr marks a failure to
// reach the backend (counted as an error whatever the code).
func (bm *backendMetrics) observe(code int, d time.Duration, transportErr bool) {
	if code < 100 || code >= len(bm.codes) {
		code = 0
	}
	p := bm.codes[code].Load()
	if p == nil {
		c := bm.requests.WithLabelValues(bm.labels[0], bm.labels[1], bm.labels[2], bm.labels[3], strconv.Itoa(code))
		bm.codes[code].CompareAndSwap(nil, &c)
		p = bm.codes[code].Load()
	}
	(*p).Inc()
	sec := d.Seconds()
	bm.duration.Observe(sec)
	rs := bm.rel
	rs.requests.Add(1)
	if transportErr || code >= 500 {
		rs.errors.Add(1)
	}
	for i, ub := range durationBuckets {
		if sec <= ub {
			rs.buckets[i].Add(1)
			break
		}
	}
}

// stats snapshots every release's counters, sorted for stable output.
func (m *metrics) stats() []Stats {
	m.mu.Lock()
	all := make([]*releaseStats, 0, len(m.releases))
	for _, rs := range m.releases {
		all = append(all, rs)
	}
	m.mu.Unlock()
	out := make([]Stats, 0, len(all))
	for _, rs := range all {
		s := Stats{Service: rs.service, Environment: rs.env, Release: rs.release,
			Requests: rs.requests.Load(), Errors: rs.errors.Load()}
		var cum uint64
		for i, ub := range durationBuckets {
			cum += rs.buckets[i].Load()
			s.Buckets = append(s.Buckets, Bucket{UpperBound: ub, Count: cum})
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Environment != b.Environment {
			return a.Environment < b.Environment
		}
		return a.Release < b.Release
	})
	return out
}
