package metrics

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/runtime"
)

// localTarget is an in-process source collected like a scrape target: its
// samples carry job and instance, and every collection appends up,
// scrape_duration_seconds and scrape_samples_scraped as Prometheus does.
type localTarget struct {
	job, instance string
	gather        func(ctx context.Context, insts []runtime.Instance) ([]*dto.MetricFamily, error)
	// prev is what the last collection appended (owned by collectLocal).
	prev seriesSet
}

// localTargets are the in-process sources this Monitor has.
func (m *Monitor) localTargets() []*localTarget {
	ts := []*localTarget{{
		job: "node", instance: m.opts.Hostname,
		gather: func(ctx context.Context, _ []runtime.Instance) ([]*dto.MetricFamily, error) {
			return hostFamilies(m.opts.ProcRoot)
		},
	}, {
		job: "tug", instance: "tug",
		gather: func(ctx context.Context, insts []runtime.Instance) ([]*dto.MetricFamily, error) {
			gs := prometheus.Gatherers{m.reg}
			if m.opts.Gatherer != nil {
				gs = append(gs, m.opts.Gatherer)
			}
			fams, err := gs.Gather()
			if err != nil && len(fams) == 0 {
				return nil, err
			}
			if err != nil {
				m.log.Debug("monitoring: gathering tug's metrics", "err", err)
			}
			return append(fams, instanceFamilies(m.opts.ProcRoot, insts, m.instanceUp(ctx, insts))...), nil
		},
	}}
	if m.opts.Proxy != nil {
		ts = append(ts, &localTarget{
			job: "tug-proxy", instance: "proxy",
			gather: func(ctx context.Context, _ []runtime.Instance) ([]*dto.MetricFamily, error) {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				text, err := m.opts.Proxy.Metrics(ctx)
				if err != nil {
					return nil, err
				}
				return parseText(text)
			},
		})
	}
	return ts
}

// parseText reads the Prometheus text exposition format.
func parseText(text []byte) ([]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("parsing metrics text: %w", err)
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, mf := range byName {
		fams = append(fams, mf)
	}
	sortFamilies(fams)
	return fams, nil
}

// collectLocal collects every in-process source once.
func (m *Monitor) collectLocal(ctx context.Context, insts []runtime.Instance) {
	for _, lt := range m.local {
		if ctx.Err() != nil {
			return
		}
		if err := m.collectOne(ctx, lt, insts); err != nil {
			m.log.Warn("monitoring: appending", "job", lt.job, "err", err)
		}
	}
}

func (m *Monitor) collectOne(ctx context.Context, lt *localTarget, insts []runtime.Instance) error {
	start := time.Now()
	fams, gerr := lt.gather(ctx, insts)
	dur := time.Since(start)
	t := m.now().UnixMilli()
	target := labels.FromStrings(model.JobLabel, lt.job, model.InstanceLabel, lt.instance)

	app := m.db.AppenderV2(ctx)
	cur := seriesSet{}
	fa := newFamilyAppender(app, target, t, cur)
	meta := map[string]metadata.Metadata{}
	if gerr == nil {
		fa.families(fams, meta)
	}
	scraped := fa.n
	up := 1.0
	if gerr != nil {
		up = 0
		m.log.Debug("monitoring: source down", "job", lt.job, "err", gerr)
	}
	report := func(name string, v float64, help string) {
		fa.append(labels.FromStrings(model.MetricNameLabel, name, model.JobLabel, lt.job, model.InstanceLabel, lt.instance),
			v, metadata.Metadata{Type: model.MetricTypeGauge, Help: help})
	}
	report("up", up, "1 if the target was collected, 0 if not.")
	report("scrape_duration_seconds", dur.Seconds(), "How long the collection took.")
	report("scrape_samples_scraped", float64(scraped), "Samples the target exposed.")
	for h, ls := range lt.prev {
		if _, ok := cur[h]; !ok {
			_, _ = app.Append(0, ls, 0, t, math.Float64frombits(value.StaleNaN), nil, nil, storage.AOptions{})
		}
	}
	if err := app.Commit(); err != nil {
		return err
	}
	lt.prev = cur
	if gerr == nil {
		m.meta.set(lt.job, meta)
	}
	if fa.failed > 0 {
		return fmt.Errorf("%d samples refused by the TSDB (duplicate or out of order)", fa.failed)
	}
	return nil
}
