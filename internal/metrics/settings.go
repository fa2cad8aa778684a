package metrics

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
)

// settings are the monitoring keys of tug.yaml with defaults applied.
type settings struct {
	scrapeInterval     time.Duration
	evaluationInterval time.Duration
	retention          time.Duration
	// metricsPath maps a service to the path its instances expose.
	metricsPath map[string]string
	// extra are monitoring.scrape targets.
	extra []Target
	// health maps a service to the check tug_instance_up runs against
	// its instances.
	health map[string]healthCheck
}

// healthCheck is a service's health check: an HTTP path, or "" for a TCP
// connect.
type healthCheck struct {
	path    string
	timeout time.Duration
}

// settingsFrom reads cfg's monitoring keys; a bad value is an ErrConfig
// naming its key, and nothing is applied.
func settingsFrom(cfg *config.Config) (settings, error) {
	st := settings{
		scrapeInterval:     DefaultScrapeInterval,
		evaluationInterval: DefaultEvaluationInterval,
		retention:          DefaultRetention,
		metricsPath:        map[string]string{},
		health:             map[string]healthCheck{},
	}
	if cfg == nil {
		return st, nil
	}
	if mon := cfg.Monitoring; mon != nil {
		if d := mon.ScrapeInterval.D(); d != 0 {
			if d < MinScrapeInterval {
				return st, fmt.Errorf("%w: monitoring.scrape_interval: %s is below the minimum of %s", ErrConfig, d, MinScrapeInterval)
			}
			st.scrapeInterval = d
		}
		if d := mon.EvaluationInterval.D(); d != 0 {
			if d < MinScrapeInterval {
				return st, fmt.Errorf("%w: monitoring.evaluation_interval: %s is below the minimum of %s", ErrConfig, d, MinScrapeInterval)
			}
			st.evaluationInterval = d
		}
		if d := mon.Retention.D(); d != 0 {
			if d < 0 {
				return st, fmt.Errorf("%w: monitoring.retention: %s is negative", ErrConfig, d)
			}
			st.retention = d
		}
		for i, sc := range mon.Scrape {
			if sc == nil || sc.Job == "" {
				return st, fmt.Errorf("%w: monitoring.scrape[%d].job: missing", ErrConfig, i)
			}
			path := sc.MetricsPath
			if path == "" {
				path = "/metrics"
			}
			if !strings.HasPrefix(path, "/") {
				return st, fmt.Errorf("%w: monitoring.scrape[%d].metrics_path: %q must start with /", ErrConfig, i, path)
			}
			for j, addr := range sc.Targets {
				if _, _, err := net.SplitHostPort(addr); err != nil {
					return st, fmt.Errorf("%w: monitoring.scrape[%d].targets[%d]: %q is not host:port", ErrConfig, i, j, addr)
				}
				st.extra = append(st.extra, Target{Job: sc.Job, Address: addr, MetricsPath: path})
			}
		}
	}
	for name, svc := range cfg.Services {
		if svc == nil {
			continue
		}
		hc := healthCheck{timeout: runtime.DefaultProbeTimeout}
		if h := svc.Health; h != nil {
			hc.path = h.Path
			if h.Timeout > 0 {
				hc.timeout = h.Timeout.D()
			}
		}
		st.health[name] = hc
		if svc.Metrics == nil {
			continue
		}
		path := svc.Metrics.Path
		if path == "" {
			path = "/metrics"
		}
		if !strings.HasPrefix(path, "/") {
			return st, fmt.Errorf("%w: services.%s.metrics.path: %q must start with /", ErrConfig, name, path)
		}
		st.metricsPath[name] = path
	}
	return st, nil
}
