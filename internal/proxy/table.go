// Package proxy is tug's data plane: an HTTP reverse proxy that runs as its
// own process (`tug proxy`), takes its routing table from the server over a
// unix socket, persists it, and keeps serving while the server is down.
package proxy

import (
	"time"

	"github.com/tugdev/tug/internal/flagset"
)

// Table is the whole routing state; the server always pushes a complete
// table, never a diff. Version only grows; the proxy ignores (409) a push
// older than what it holds, so a restarted server cannot roll it back by
// accident.
type Table struct {
	Version int64    `json:"version"`
	Routes  []*Route `json:"routes"`
	// Flags are the feature flags the proxy evaluates over OFREP.
	Flags *flagset.Set `json:"flags,omitempty"`
}

// Route sends requests for Host (exact, case-insensitive; port ignored) and
// PathPrefix ("" or "/" = everything) to the pools of one service in one
// environment. The longest matching prefix wins.
type Route struct {
	Host        string `json:"host"`
	PathPrefix  string `json:"path_prefix,omitempty"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Pools are the live releases. Weights are relative (90/10 for a
	// canary at 10%); a pool of weight 0 takes no new requests.
	Pools []*Pool `json:"pools"`
	// Health is the active check run against every backend.
	Health *HealthCheck `json:"health,omitempty"`
	// StickyCookie, when set, pins a client to a backend by that cookie.
	StickyCookie string        `json:"sticky_cookie,omitempty"`
	StickyTTL    time.Duration `json:"sticky_ttl,omitempty"`
	// Edge is what the proxy enforces beyond routing (edge.go).
	Edge *Edge `json:"edge,omitempty"`
}

// Pool is the instances of one release.
type Pool struct {
	Release  string     `json:"release"`
	Weight   int        `json:"weight"`
	Backends []*Backend `json:"backends"`
}

// Backend is one instance. A backend that disappears from the table is
// drained: it gets no new requests, in-flight ones finish.
type Backend struct {
	Instance string `json:"instance"`
	Addr     string `json:"addr"`
}

// HealthCheck is an active HTTP probe: 2xx/3xx within Timeout is healthy.
type HealthCheck struct {
	Path     string        `json:"path"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"`
}

// Stats are cumulative counters of one release, read by canary analysis
// as the difference of two snapshots.
type Stats struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Release     string `json:"release"`
	Requests    uint64 `json:"requests"`
	// Errors counts 5xx answers and transport failures.
	Errors uint64 `json:"errors"`
	// Buckets are cumulative latency histogram buckets (upper bound in
	// seconds, count), as in tug_proxy_request_duration_seconds.
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 `json:"le"`
	Count      uint64  `json:"count"`
}

// BackendStatus is what the proxy knows of one backend right now.
type BackendStatus struct {
	Service     string `json:"service,omitempty"`
	Environment string `json:"environment,omitempty"`
	Release     string `json:"release,omitempty"`
	Instance    string `json:"instance"`
	Addr        string `json:"addr"`
	Healthy     bool   `json:"healthy"`
	InFlight    int64  `json:"in_flight"`
	// Draining: removed from the table, still finishing requests.
	Draining bool `json:"draining,omitempty"`
}

// Control API, served by the proxy on the unix socket proxy.sock in the
// state directory (all JSON):
//
//	GET  /table            the current Table
//	PUT  /table            replace the Table (400 invalid, 409 stale version)
//	GET  /stats            []Stats
//	GET  /backends         []BackendStatus (including draining ones)
//	GET  /certs            []CertStatus of the https listener
//	GET  /metrics          Prometheus text format (tug_proxy_* families)
//	GET  /healthz          200 once serving
