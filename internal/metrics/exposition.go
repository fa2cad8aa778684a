package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// MetricsHandler serves what tug knows in the Prometheus exposition
// format, for an external Prometheus to scrape (mount at /metrics): tug's
// own Gatherer, its TSDB/engine/scrape internals, tug_instance_* for the
// runtime's instances, and the proxy's tug_proxy_* families.
func (m *Monitor) MetricsHandler() http.Handler {
	gs := prometheus.Gatherers{m.reg, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		ctx, cancel := context.WithTimeout(m.life, 5*time.Second)
		defer cancel()
		insts, _ := m.listInstances(ctx)
		return instanceFamilies(m.opts.ProcRoot, insts, m.instanceUp(ctx, insts)), nil
	})}
	if m.opts.Gatherer != nil {
		gs = append(gs, m.opts.Gatherer)
	}
	proxy := m.opts.Proxy
	if proxy != nil {
		gs = append(gs, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
			// promhttp gives no request context to a Gatherer; the proxy
			// client bounds the call with its own timeout.
			ctx, cancel := context.WithTimeout(m.life, 5*time.Second)
			defer cancel()
			text, err := proxy.Metrics(ctx)
			if err != nil {
				return nil, nil // the proxy down must not fail tug's /metrics
			}
			return parseText(text)
		}))
	}
	return promhttp.HandlerFor(gs, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
