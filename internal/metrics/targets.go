package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"gopkg.in/yaml.v3"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
)

// Target is one HTTP endpoint scraped by the scrape manager.
type Target struct {
	// Job is the job label.
	Job string
	// Address is host:port.
	Address string
	// MetricsPath defaults to /metrics.
	MetricsPath string
	// Labels are added to every series of the target (service,
	// environment, release, instance, ...).
	Labels map[string]string
}

// SetTargets replaces the explicitly given targets, scraped beside those
// derived from the config and the runtime's instances. Safe at any time.
func (m *Monitor) SetTargets(ts []Target) error {
	for i, t := range ts {
		if t.Job == "" || t.Address == "" {
			return fmt.Errorf("%w: target %d: job and address are required", ErrConfig, i)
		}
	}
	m.mu.Lock()
	m.explicit = slices.Clone(ts)
	m.mu.Unlock()
	return m.applyTargets(nil, false)
}

// SetConfig applies a new tug.yaml: scrape and evaluation intervals, extra
// targets, services' metrics paths and retention (enforced from the
// TSDB's next compaction cycle, within a minute). A bad value returns
// ErrConfig naming its key and changes nothing.
func (m *Monitor) SetConfig(cfg *config.Config) error {
	st, err := settingsFrom(cfg)
	if err != nil {
		return err
	}
	if old := m.Retention(); st.retention != old {
		retain := &promconfig.TSDBRetentionConfig{Time: model.Duration(st.retention)}
		if err := m.db.ApplyConfig(&promconfig.Config{StorageConfig: promconfig.StorageConfig{TSDBConfig: &promconfig.TSDBConfig{Retention: retain}}}); err != nil {
			return fmt.Errorf("monitoring.retention: %w", err)
		}
		m.log.Info("metrics retention changed", "from", old, "to", st.retention)
	}
	m.mu.Lock()
	m.settings = st
	m.retention = st.retention
	m.mu.Unlock()
	return m.applyTargets(nil, false)
}

// listInstances lists the runtime's instances; false when that failed.
func (m *Monitor) listInstances(ctx context.Context) ([]runtime.Instance, bool) {
	if m.opts.Instances == nil {
		return nil, true
	}
	insts, err := m.opts.Instances(ctx)
	if err != nil {
		m.log.Warn("monitoring: listing instances", "err", err)
		return nil, false
	}
	return insts, true
}

// applyTargets computes the scrape pools from settings, explicit targets
// and insts (the last known list when fresh is false) and hands any
// change to the scrape manager.
func (m *Monitor) applyTargets(insts []runtime.Instance, fresh bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fresh {
		m.lastInstances = insts
	}
	st := m.settings
	var all []Target
	all = append(all, st.extra...)
	all = append(all, m.explicit...)
	for _, in := range m.lastInstances {
		path, ok := st.metricsPath[in.Service]
		if !ok || in.State != runtime.Running || in.Addr == "" {
			continue
		}
		all = append(all, Target{
			Job:         in.Service,
			Address:     in.Addr,
			MetricsPath: path,
			Labels: map[string]string{
				"service":     in.Service,
				"environment": in.Environment,
				"release":     in.Release,
				"instance":    in.ID,
			},
		})
	}
	groups := map[string][]*targetgroup.Group{}
	for _, t := range all {
		pool := "job:" + t.Job
		ls := model.LabelSet{
			model.AddressLabel:     model.LabelValue(t.Address),
			model.MetricsPathLabel: model.LabelValue(cmpOr(t.MetricsPath, "/metrics")),
		}
		for k, v := range t.Labels {
			ls[model.LabelName(k)] = model.LabelValue(v)
		}
		if len(groups[pool]) == 0 {
			groups[pool] = []*targetgroup.Group{{
				Source: pool,
				Labels: model.LabelSet{model.JobLabel: model.LabelValue(t.Job)},
			}}
		}
		g := groups[pool][0]
		g.Targets = append(g.Targets, ls)
	}
	// A pool that loses its last target stays, empty: scrape.Manager marks
	// the series of targets dropped from a live pool stale, but not those
	// of a pool it stops (it presumes a restart).
	for pool := range m.pools {
		if _, ok := groups[pool]; !ok {
			groups[pool] = []*targetgroup.Group{{Source: pool}}
		}
	}
	for pool := range groups {
		m.pools[pool] = true
	}
	cfgText, err := promScrapeConfig(slices.Sorted(maps.Keys(groups)), st.scrapeInterval)
	if err != nil {
		return err
	}
	if cfgText != m.lastPromCfg {
		pc, err := promconfig.Load(cfgText, m.log)
		if err != nil {
			return fmt.Errorf("monitoring: scrape config: %w", err)
		}
		if err := m.scrape.ApplyConfig(pc); err != nil {
			return fmt.Errorf("monitoring: scrape config: %w", err)
		}
		m.lastPromCfg = cfgText
	}
	fp := groupsFingerprint(groups)
	if fp != m.lastGroups {
		// One sender (under m.mu) and a buffer of one: drain the stale set
		// the manager has not taken yet, then send; this never blocks.
		select {
		case <-m.tsets:
		default:
		}
		m.tsets <- groups
		m.lastGroups = fp
	}
	return nil
}

// promScrapeConfig renders one Prometheus scrape config per pool.
func promScrapeConfig(pools []string, every time.Duration) (string, error) {
	timeout := min(every, 10*time.Second)
	type scrapeCfg struct {
		JobName          string `yaml:"job_name"`
		ScrapeInterval   string `yaml:"scrape_interval"`
		ScrapeTimeout    string `yaml:"scrape_timeout"`
		FallbackProtocol string `yaml:"fallback_scrape_protocol"`
	}
	doc := struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
			ScrapeTimeout  string `yaml:"scrape_timeout"`
		} `yaml:"global"`
		ScrapeConfigs []scrapeCfg `yaml:"scrape_configs"`
	}{}
	doc.Global.ScrapeInterval = model.Duration(every).String()
	doc.Global.ScrapeTimeout = model.Duration(timeout).String()
	for _, p := range pools {
		doc.ScrapeConfigs = append(doc.ScrapeConfigs, scrapeCfg{
			JobName:        p,
			ScrapeInterval: model.Duration(every).String(),
			ScrapeTimeout:  model.Duration(timeout).String(),
			// Apps often answer /metrics without a Content-Type; read them
			// as the classic text format rather than failing the scrape.
			FallbackProtocol: string(promconfig.PrometheusText0_0_4),
		})
	}
	b, err := yaml.Marshal(doc)
	return string(b), err
}

func groupsFingerprint(groups map[string][]*targetgroup.Group) string {
	var b strings.Builder
	for _, pool := range slices.Sorted(maps.Keys(groups)) {
		b.WriteString(pool)
		for _, g := range groups[pool] {
			b.WriteString(g.Labels.String())
			ts := make([]string, 0, len(g.Targets))
			for _, t := range g.Targets {
				ts = append(ts, t.String())
			}
			slices.Sort(ts)
			b.WriteString(strings.Join(ts, ";"))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func newScrapeManager(app storage.AppendableV2, log *slog.Logger, reg prometheus.Registerer) (*scrape.Manager, error) {
	return scrape.NewManager(&scrape.Options{
		DiscoveryReloadInterval:  model.Duration(time.Second),
		DiscoveryReloadOnStartup: true,
	}, log, nil, nil, app, reg)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
