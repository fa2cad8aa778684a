// Package metrics is tug's monitoring room: it scrapes every instance that
// exposes Prometheus metrics, the proxy's counters, per-instance process
// figures, the host (named as node_exporter names them) and tug itself
// into an embedded Prometheus TSDB, and answers PromQL over an HTTP API
// compatible with Prometheus's /api/v1, so Grafana can use tug as a
// Prometheus data source.
//
// Labels. Scraped service instances get job=<service>, service,
// environment, release and instance=<instance ID>. Extra targets from
// monitoring.scrape get job=<job> and instance=<host:port>, as in
// Prometheus. In-process sources are:
//
//	job="node"       node_* host metrics (instance=<hostname>)
//	job="tug"        tug's own Gatherer and tug_instance_* (instance="tug")
//	job="tug-proxy"  the proxy's tug_proxy_* counters (instance="proxy")
//
// Every target, HTTP or in-process, gets up and scrape_duration_seconds.
//
// Proxy metric contract (what the recording rules read):
//
//	tug_proxy_requests_total{service,environment,release,code}   counter
//	tug_proxy_request_duration_seconds_bucket{service,environment,release,le} histogram
//
// where code is the HTTP status the client got; a transport failure to the
// backend counts as code="502".
package metrics
