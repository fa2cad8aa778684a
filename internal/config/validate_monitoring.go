package config

import (
	"net"
	"strings"
	"time"
)

// MinInterval is the shortest scrape or evaluation interval accepted.
const MinInterval = time.Second

// monitoring checks how metrics are collected and where the proxy
// listens: the settings the metrics room and the proxy read.
func (v *validator) monitoring() {
	if m := v.c.Monitoring; m != nil {
		for _, k := range []struct {
			key string
			d   Duration
		}{{"scrape_interval", m.ScrapeInterval}, {"evaluation_interval", m.EvaluationInterval}} {
			if p := "monitoring." + k.key; v.has(p) && k.d.D() < MinInterval {
				v.errorf(p, "must be at least %s, got %s", MinInterval, k.d.D())
			}
		}
		for i, sc := range m.Scrape {
			sp := joinIndex("monitoring.scrape", i)
			if sc == nil {
				v.errorf(sp, "empty scrape target: set job and targets")
				continue
			}
			if sc.Job == "" {
				v.errorKey(sp+".job", sp, "missing job name")
			}
			if sc.MetricsPath != "" && !strings.HasPrefix(sc.MetricsPath, "/") {
				v.errorf(sp+".metrics_path", "%q must start with /", sc.MetricsPath)
			}
			if len(sc.Targets) == 0 {
				v.errorKey(sp+".targets", sp, "missing targets (host:port addresses)")
			}
			for j, t := range sc.Targets {
				if _, _, err := net.SplitHostPort(t); err != nil {
					v.errorf(joinIndex(sp+".targets", j), "%q is not host:port", t)
				}
			}
		}
	}
	for _, name := range v.c.ServiceOrder {
		s := v.c.Services[name]
		sp := "services." + name
		if s.Metrics != nil && s.Metrics.Path != "" && !strings.HasPrefix(s.Metrics.Path, "/") {
			v.errorf(sp+".metrics.path", "%q must start with /", s.Metrics.Path)
		}
		if s.Health != nil && s.Health.Path != "" && !strings.HasPrefix(s.Health.Path, "/") {
			v.errorf(sp+".health.path", "%q must start with /", s.Health.Path)
		}
	}
	if p := v.c.Proxy; p != nil {
		for _, k := range []struct{ key, addr string }{{"http", p.HTTP}, {"https", p.HTTPS}} {
			if k.addr == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(k.addr); err != nil {
				v.errorf("proxy."+k.key, "%q is not host:port (e.g. 127.0.0.1:8443)", k.addr)
			}
		}
		switch {
		case p.HTTPS != "" && p.TLS == nil:
			v.errorf("proxy.https", "an https listener needs proxy.tls: {cert: FILE, key: FILE}")
		case p.TLS != nil && p.HTTPS == "":
			v.errorKey("proxy.tls", "proxy.tls", "tls is used only by an https listener: set proxy.https too")
		}
		v.tlsSource("proxy.tls", p.TLS)
	}
}
