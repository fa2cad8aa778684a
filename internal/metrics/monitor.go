package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
)

// Defaults of the monitoring keys of tug.yaml.
const (
	DefaultScrapeInterval     = 15 * time.Second
	DefaultEvaluationInterval = 15 * time.Second
	DefaultRetention          = 15 * 24 * time.Hour
	// MinScrapeInterval is the shortest monitoring.scrape_interval accepted.
	MinScrapeInterval = config.MinInterval
)

// ErrConfig wraps every rejected monitoring setting; the message names the key.
var ErrConfig = errors.New("invalid monitoring config")

// ProxyMetrics is the proxy's control socket as far as monitoring cares.
//
// Contract: Metrics returns the proxy's Prometheus text exposition
// (tug_proxy_* families) or an error; it honours ctx and is safe for
// concurrent use. *proxy.Client implements it.
type ProxyMetrics interface {
	Metrics(ctx context.Context) ([]byte, error)
}

var _ ProxyMetrics = (*proxy.Client)(nil)

// Options configure a Monitor. Only Dir is required.
type Options struct {
	// Dir holds the TSDB (<state>/tsdb). It is created if missing.
	Dir string
	// Config is the tug.yaml in force; nil means defaults and no services.
	// Retention is read once, here; later SetConfig calls change targets
	// and intervals only.
	Config *config.Config
	Logger *slog.Logger
	// Clock stamps in-process samples and queries without a time; default
	// time.Now. HTTP scrapes always use the wall clock (scrape.Manager).
	Clock func() time.Time
	// Instances lists the instances the runtime owns (runtime.Runtime.List).
	// Running ones of services with `metrics:` are scraped; every one gets
	// tug_instance_up (its service's health check, run at each collection)
	// and tug_instance_* figures. Called once per scrape interval and on
	// each MetricsHandler request, possibly concurrently. Nil: none.
	Instances func(ctx context.Context) ([]runtime.Instance, error)
	// Proxy is the proxy's control socket client; nil: no proxy metrics.
	Proxy ProxyMetrics
	// Gatherer is tug's own registry, ingested under job="tug".
	Gatherer prometheus.Gatherer
	// Rules feeds /api/v1/rules and /api/v1/alerts (the alert room's
	// rules.Manager); nil answers with no groups.
	Rules RuleSource
	// EvaluateRecordingRules makes the Monitor evaluate RecordingRules()
	// itself every evaluation_interval. Leave it false when the alert
	// room's rules.Manager loads RecordingRules(): exactly one of them must.
	EvaluateRecordingRules bool
	// ProcRoot is where /proc is mounted; default "/proc" (tests point it
	// at a fixture).
	ProcRoot string
	// Hostname is the instance label of node_* metrics; default os.Hostname.
	Hostname string
	// Version is tug's version, reported by /api/v1/status/buildinfo.
	Version string
}

// Monitor collects metrics into an embedded TSDB and answers PromQL.
//
// Lifecycle: New, then Run(ctx) in a goroutine; cancel ctx and wait for Run
// to return before Close. Queries (Handler, Query) work from New to Close,
// with or without Run. SetConfig and SetTargets are safe for concurrent
// use at any time.
type Monitor struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	db     *tsdb.DB
	engine *promql.Engine
	parser parser.Parser
	reg    *prometheus.Registry
	scrape *scrape.Manager
	tsets  chan map[string][]*targetgroup.Group
	meta   *metadataStore
	start  time.Time

	// life ends at Close, bounding calls made outside Run (MetricsHandler).
	life    context.Context
	endLife context.CancelFunc

	mu          sync.Mutex
	retention   time.Duration
	settings    settings
	explicit    []Target
	lastPromCfg string
	lastGroups  string
	// pools are the scrape pools ever configured; they are never removed.
	pools map[string]bool
	// lastInstances is the runtime's last known list, for target changes
	// between ticks.
	lastInstances []runtime.Instance
	// ruleSeries are the series EvalRecordingRules wrote last.
	ruleSeries seriesSet
	// local are the in-process sources; only Run's goroutine touches them.
	local []*localTarget
}

// New opens (or creates) the TSDB in opts.Dir and prepares collection.
func New(opts Options) (*Monitor, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: no TSDB directory", ErrConfig)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		opts.Hostname = h
	}
	st, err := settingsFrom(opts.Config)
	if err != nil {
		return nil, err
	}
	m := &Monitor{
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Clock,
		parser:    parser.NewParser(parser.Options{}),
		reg:       prometheus.NewRegistry(),
		tsets:     make(chan map[string][]*targetgroup.Group, 1),
		meta:      newMetadataStore(),
		settings:  st,
		pools:     map[string]bool{},
		retention: st.retention,
		start:     opts.Clock(),
	}
	m.life, m.endLife = context.WithCancel(context.Background())
	m.db, err = openTSDB(opts.Dir, st.retention, opts.Logger, m.reg)
	if err != nil {
		m.endLife()
		return nil, err
	}
	m.engine = promql.NewEngine(promql.EngineOpts{
		Logger:               opts.Logger,
		Reg:                  m.reg,
		MaxSamples:           maxSamples,
		Timeout:              queryTimeout,
		LookbackDelta:        lookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               m.parser,
	})
	m.scrape, err = newScrapeManager(m.db, opts.Logger, m.reg)
	if err != nil {
		m.endLife()
		_ = m.db.Close()
		return nil, err
	}
	m.local = m.localTargets()
	return m, nil
}

// Run collects until ctx ends: HTTP targets through scrape.Manager,
// in-process sources every scrape interval, and (when asked) the recording
// rules every evaluation interval. It returns nil when ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	tick := func() {
		insts, ok := m.listInstances(ctx)
		if err := m.applyTargets(insts, ok); err != nil {
			m.log.Warn("monitoring targets", "err", err)
		}
		if !ok { // keep reporting the last known instances
			m.mu.Lock()
			insts = m.lastInstances
			m.mu.Unlock()
		}
		m.collectLocal(ctx, insts)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := m.scrape.Run(m.tsets); err != nil {
			m.log.Error("scrape manager stopped", "err", err)
		}
	}()
	if m.opts.EvaluateRecordingRules {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.ruleLoop(ctx)
		}()
	}
	tick()
	timer := time.NewTimer(m.interval())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			m.scrape.Stop()
			wg.Wait()
			return nil
		case <-timer.C:
			tick()
			timer.Reset(m.interval())
		}
	}
}

func (m *Monitor) ruleLoop(ctx context.Context) {
	for {
		m.mu.Lock()
		every := m.settings.evaluationInterval
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if err := m.EvalRecordingRules(ctx, m.now()); err != nil && ctx.Err() == nil {
			m.log.Warn("recording rules", "err", err)
		}
	}
}

func (m *Monitor) interval() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.settings.scrapeInterval
}

// Close flushes and closes the TSDB. Call it once, after Run returned.
func (m *Monitor) Close() error {
	m.endLife()
	_ = m.engine.Close()
	return m.db.Close()
}

// Retention is how long samples are kept, as applied to the TSDB.
func (m *Monitor) Retention() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.retention
}

// Engine is the PromQL engine answering the API, for callers (the alert
// room's rules.Manager) that evaluate over the same storage.
func (m *Monitor) Engine() *promql.Engine { return m.engine }

// Storage is the TSDB: queryable by Engine and appendable, so a
// rules.Manager can write recording-rule results and alert state into it.
func (m *Monitor) Storage() *tsdb.DB { return m.db }
