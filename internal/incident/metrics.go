package incident

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tugdev/tug/internal/store"
)

// collector exposes the tug_incidents_* metrics, read from the store at
// each scrape: they survive restarts and agree with `tug incident ls`.
type collector struct {
	m                            *Manager
	open, opened, escalations    *prometheus.Desc
	toAck, toMitigate, toResolve *prometheus.Desc
	remediations                 *prometheus.Desc
}

func newCollector(m *Manager) *collector {
	svc := []string{"service"}
	return &collector{
		m:            m,
		open:         prometheus.NewDesc("tug_incidents_open", "Incidents not yet resolved, by service and severity.", []string{"service", "severity"}, nil),
		opened:       prometheus.NewDesc("tug_incidents_opened_total", "Incidents opened, by service and severity.", []string{"service", "severity"}, nil),
		escalations:  prometheus.NewDesc("tug_incidents_escalations_total", "Escalations past an incident's first level, by service.", svc, nil),
		toAck:        prometheus.NewDesc("tug_incidents_time_to_acknowledge_seconds", "Time from detection to acknowledgement of the incidents acknowledged, by service (MTTA is sum/count).", svc, nil),
		toMitigate:   prometheus.NewDesc("tug_incidents_time_to_mitigate_seconds", "Time from detection to the start of mitigation, by service.", svc, nil),
		toResolve:    prometheus.NewDesc("tug_incidents_time_to_resolve_seconds", "Time from detection to resolution of the incidents resolved, by service (MTTR is sum/count).", svc, nil),
		remediations: prometheus.NewDesc("tug_incidents_remediations_total", "Automatic and proposed remediation actions, by service, action and outcome.", []string{"service", "action", "status"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.opened, c.escalations, c.toAck, c.toMitigate, c.toResolve, c.remediations} {
		ch <- d
	}
}

type sumCount struct {
	sum   float64
	count uint64
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := c.m.st.ListIncidents(ctx, store.IncidentFilter{})
	if err != nil {
		c.m.log.Warn("incident metrics", "err", err)
		return
	}
	type svcSev struct{ service, severity string }
	open, opened := map[svcSev]int{}, map[svcSev]int{}
	esc := map[string]int{}
	times := map[string]*[3]sumCount{}
	for _, r := range recs {
		k := svcSev{r.Service, r.Severity}
		opened[k]++
		if isOpen(r.State) {
			open[k]++
		}
		if r.Level > 1 {
			esc[r.Service] += r.Level - 1
		}
		t := times[r.Service]
		if t == nil {
			t = &[3]sumCount{}
			times[r.Service] = t
		}
		for i, at := range []time.Time{r.AcknowledgedAt, r.MitigatedAt, r.ResolvedAt} {
			if !at.IsZero() {
				t[i].sum += at.Sub(r.OpenedAt).Seconds()
				t[i].count++
			}
		}
	}
	for k, n := range opened {
		ch <- prometheus.MustNewConstMetric(c.opened, prometheus.CounterValue, float64(n), k.service, k.severity)
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(open[k]), k.service, k.severity)
	}
	for svc, n := range esc {
		ch <- prometheus.MustNewConstMetric(c.escalations, prometheus.CounterValue, float64(n), svc)
	}
	for svc, t := range times {
		for i, d := range []*prometheus.Desc{c.toAck, c.toMitigate, c.toResolve} {
			ch <- prometheus.MustNewConstSummary(d, t[i].count, t[i].sum, nil, svc)
		}
	}
	acts, err := c.m.st.IncidentActions(ctx, store.IncidentActionFilter{})
	if err != nil {
		return
	}
	type actKey struct{ service, action, status string }
	counts := map[actKey]int{}
	for _, a := range acts {
		counts[actKey{a.Service, a.Action, a.Status}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.remediations, prometheus.CounterValue, float64(n), k.service, k.action, k.status)
	}
}
