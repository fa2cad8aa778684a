package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"

	"github.com/tugdev/tug/internal/config"
)

// DefaultEvaluationInterval is used when monitoring.evaluation_interval is
// not set.
const DefaultEvaluationInterval = 15 * time.Second

// MinEvaluationInterval is the shortest evaluation interval allowed.
const MinEvaluationInterval = config.MinInterval

// Options are New's dependencies. Config, Queryable, Appendable and
// QueryEngine are required; the rest have usable zero values.
type Options struct {
	Config *config.Config
	// Dir is where alert_files globs are relative to; default the
	// directory of Config.File.
	Dir string
	// Queryable and Appendable are the TSDB the rules read and write
	// (recording rules, ALERTS series).
	Queryable  storage.Queryable
	Appendable storage.AppendableV2
	// QueryEngine evaluates the rules' PromQL.
	QueryEngine promql.QueryEngine
	// RecordingGroups are extra recording rule groups (the metrics room's)
	// evaluated by the same rules manager, before the alerts.
	RecordingGroups []rulefmt.RuleGroup
	// Registerer receives tug_notifications_total{channel,outcome}.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock for evaluations, group timers, silences and acks.
	Now func() time.Time
	// Sleep waits between delivery retries; default a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// State persists silences, acks and notifications; default in memory.
	State State
	// Secret reads a secret's value by name (SMTP passwords).
	Secret func(ctx context.Context, name string) (string, error)
	// ExternalURL is tug's URL as people reach it, for generator links.
	ExternalURL string
	// HTTPClient sends webhook, Slack and Alertmanager notifications.
	HTTPClient *http.Client
	// Attempts is how many times a notification is tried (default 5);
	// RetryBase and RetryMax bound the exponential backoff between tries
	// (default 1s and 1m); SendTimeout bounds one try (default 10s).
	Attempts    int
	RetryBase   time.Duration
	RetryMax    time.Duration
	SendTimeout time.Duration
	// Channels replaces or adds channels by name (tests, plugins).
	Channels map[string]Channel
	// Observer hears of alerts that fire and resolve (the incident room);
	// nil: nobody.
	Observer Observer
}

// Engine evaluates tug's alerting rules and notifies. Safe for concurrent
// use: Run drives it in production; tests call Evaluate and Flush with an
// injected clock instead.
type Engine struct {
	log         *slog.Logger
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	state       State
	manager     *rules.Manager
	groups      []*rules.Group
	interval    time.Duration
	qe          promql.QueryEngine
	queryable   storage.Queryable
	externalURL string
	channels    map[string]*namedChannel
	routes      []*route
	inhibit     []inhibitRule
	slos        map[string]config.SLO
	attempts    int
	retryBase   time.Duration
	retryMax    time.Duration
	sendTimeout time.Duration
	sent        *prometheus.CounterVec
	observer    Observer

	mu       sync.Mutex
	alerts   map[string]*Alert
	silences map[string]*silence
	acks     map[string]Ack
	aggr     map[string]*aggrGroup
}

// New builds the rule groups (tug.yaml's alerts, default packs, SLOs, rule
// files and the extra recording groups), the channels and routes, and
// loads silences and acks from State. Bad input is an error wrapping
// ErrInvalid or ErrRuleFile, naming the place.
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.Config == nil || o.Queryable == nil || o.Appendable == nil || o.QueryEngine == nil {
		return nil, fmt.Errorf("alert: %w: Config, Queryable, Appendable and QueryEngine are required", ErrInvalid)
	}
	e := &Engine{
		log: o.Logger, now: o.Now, sleep: o.Sleep, state: o.State,
		qe: o.QueryEngine, queryable: o.Queryable, externalURL: validExternalURL(o.ExternalURL),
		inhibit: defaultInhibitions(), slos: map[string]config.SLO{},
		attempts: o.Attempts, retryBase: o.RetryBase, retryMax: o.RetryMax, sendTimeout: o.SendTimeout, observer: o.Observer,
		alerts: map[string]*Alert{}, silences: map[string]*silence{}, acks: map[string]Ack{}, aggr: map[string]*aggrGroup{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.sleep == nil {
		e.sleep = sleepCtx
	}
	if e.state == nil {
		e.state = NewMemoryState()
	}
	if e.attempts <= 0 {
		e.attempts = 5
	}
	if e.retryBase <= 0 {
		e.retryBase = time.Second
	}
	if e.retryMax <= 0 {
		e.retryMax = time.Minute
	}
	if e.sendTimeout <= 0 {
		e.sendTimeout = 10 * time.Second
	}
	c := o.Config
	e.interval = DefaultEvaluationInterval
	if c.Monitoring != nil && c.Monitoring.EvaluationInterval > 0 {
		e.interval = max(c.Monitoring.EvaluationInterval.D(), MinEvaluationInterval)
	}
	for name, s := range c.Services {
		if s != nil && s.SLO != nil && s.SLO.Availability > 0 {
			e.slos[name] = *s.SLO
		}
	}

	var err error
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	var order []string
	if e.channels, order, err = buildChannels(c.Notify, hc, o.Secret); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	for name, ch := range o.Channels {
		if nc := e.channels[name]; nc != nil {
			nc.ch = ch
		} else {
			e.channels[name] = &namedChannel{name: name, kind: "custom", ch: ch}
			order = append(order, name)
		}
	}
	if e.routes, err = buildRoutes(c.Notify, e.channels, order); err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	// An external Alertmanager groups, repeats and silences by itself; it
	// wants every firing alert re-sent before its endsAt, as Prometheus
	// does, acknowledged or not.
	validFor := 4 * max(e.interval, time.Minute)
	for _, r := range e.routes {
		if ch := e.channels[r.channel]; ch.kind == KindAlertmanager {
			r.refresh = true
			r.repeat = min(r.repeat, time.Minute)
			if am, ok := ch.ch.(*AlertmanagerChannel); ok {
				am.ValidFor, am.Now = validFor, e.now
			}
		}
	}
	e.sent = notificationCounter(o.Registerer)

	// Rule sources, in evaluation order: recording rules first.
	p := parser.NewParser(parser.Options{})
	files := map[string][]rulefmt.RuleGroup{}
	var ids []string
	have := map[string]bool{}
	if len(o.RecordingGroups) > 0 {
		files["tug:recording"] = o.RecordingGroups
		ids = append(ids, "tug:recording")
		for _, g := range o.RecordingGroups {
			for _, r := range g.Rules {
				if r.Record != "" {
					have[r.Record] = true
				}
			}
		}
	}
	if err := checkConfigAlerts(c, p); err != nil {
		return nil, err
	}
	if gs := ConfigGroups(c, have); len(gs) > 0 {
		files[ConfigFile] = gs
		ids = append(ids, ConfigFile)
	}
	dir := o.Dir
	if dir == "" && c.File != "" {
		dir = filepath.Dir(c.File)
	}
	rfs, err := LoadRuleFiles(dir, c.AlertFiles)
	if err != nil {
		return nil, fmt.Errorf("alert: %w", err)
	}
	for _, rf := range rfs {
		files[rf.Path] = rf.Groups
		ids = append(ids, rf.Path)
	}

	e.manager = rules.NewManager(&rules.ManagerOptions{
		Context:      ctx,
		QueryFunc:    rules.EngineQueryFunc(o.QueryEngine, o.Queryable),
		NotifyFunc:   func(context.Context, string, ...*rules.Alert) {}, // Engine reads the rules' state itself
		AppendableV2: o.Appendable,
		Queryable:    o.Queryable,
		Logger:       e.log,
		GroupLoader:  &memLoader{files: files, parser: p},
		Parser:       p,
		Metrics:      rules.NewGroupMetrics(nil),
		ResendDelay:  time.Minute,
	})
	loaded, errs := e.manager.LoadGroups(e.interval, labels.EmptyLabels(), e.externalURL, nil, false, ids...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("alert: %w: %v", ErrInvalid, errors.Join(errs...))
	}
	for _, id := range ids {
		for _, g := range files[id] {
			if rg := loaded[rules.GroupKey(id, g.Name)]; rg != nil {
				e.groups = append(e.groups, rg)
			}
		}
	}
	if err := e.loadState(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// checkConfigAlerts parses every expression of tug.yaml's alerts, so a bad
// one is reported by its place in the file.
func checkConfigAlerts(c *config.Config, p parser.Parser) error {
	var errs []error
	for i, a := range c.Alerts {
		if _, err := p.ParseExpr(a.Expr); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: alerts[%d].expr (%s): %v", ErrInvalid, fileName(c), i, a.Alert, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("alert: %w", errors.Join(errs...))
	}
	return nil
}

func fileName(c *config.Config) string {
	if c.File != "" {
		return c.File
	}
	return ConfigFile
}

// loadState reads silences and acks from State.
func (e *Engine) loadState(ctx context.Context) error {
	ss, err := e.state.Silences(ctx)
	if err != nil {
		return fmt.Errorf("alert: load silences: %w", err)
	}
	for _, s := range ss {
		ms, err := ParseMatchers(s.Matchers)
		if err != nil {
			e.log.Warn("stored silence has bad matchers; ignored", "id", s.ID, "err", err)
			continue
		}
		e.silences[s.ID] = &silence{Silence: s, matchers: ms}
	}
	as, err := e.state.Acks(ctx)
	if err != nil {
		return fmt.Errorf("alert: load acks: %w", err)
	}
	for _, a := range as {
		e.acks[a.Fingerprint] = a
	}
	return nil
}

// Interval is the rules' evaluation interval.
func (e *Engine) Interval() time.Duration { return e.interval }

// RuleGroups are the rule groups being evaluated, for the Prometheus
// compatible /api/v1/rules and /api/v1/alerts.
func (e *Engine) RuleGroups() []*rules.Group { return append([]*rules.Group(nil), e.groups...) }

// Run evaluates the rules every interval and flushes notifications every
// flushEvery (default 1s) until ctx ends. Deliveries do not delay
// evaluations.
func (e *Engine) Run(ctx context.Context, flushEvery time.Duration) error {
	if flushEvery <= 0 {
		flushEvery = time.Second
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// A slow channel (retrying) must not hold back other
				// groups: each flush runs on its own; groups in flight
				// are skipped by the next one.
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.Flush(ctx)
				}()
			}
		}
	}()
	t := time.NewTicker(e.interval)
	defer t.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			e.Evaluate(ctx)
			if first {
				// As Prometheus does: restore `for` state from the
				// ALERTS_FOR_STATE series after a restart.
				now := e.now()
				for _, g := range e.groups {
					g.RestoreForState(now)
				}
				first = false
			}
		}
	}
}

// Evaluate runs every rule group once at the clock's now, then updates the
// alerts and files them for notification.
func (e *Engine) Evaluate(ctx context.Context) {
	ts := e.now()
	for _, g := range e.groups {
		rules.DefaultEvalIterationFunc(ctx, g, ts)
	}
	next := map[string]*Alert{}
	for _, g := range e.groups {
		for _, r := range g.AlertingRules() {
			expr := r.Query().String()
			for _, ra := range r.ActiveAlerts() {
				a := fromRule(ra, expr, e.externalURL)
				next[a.ID] = a
			}
		}
	}
	var stale []string
	var changed []Change
	e.mu.Lock()
	if e.observer != nil {
		changed = e.changes(e.alerts, next, ts)
	}
	e.alerts = next
	for fp, ack := range e.acks {
		a := next[fp]
		if a == nil || a.State != StateFiring || !a.StartsAt.Equal(ack.StartsAt) {
			stale = append(stale, fp)
			delete(e.acks, fp)
		}
	}
	e.route(ts)
	e.mu.Unlock()
	for _, c := range changed {
		e.observer.Observe(c)
	}
	for _, fp := range stale {
		if err := e.state.DeleteAck(ctx, fp); err != nil {
			e.log.Warn("cannot delete ack", "id", fp, "err", err)
		}
	}
}

// Flush sends every notification due at the clock's now and waits for the
// deliveries (retries included) to end.
func (e *Engine) Flush(ctx context.Context) {
	now := e.now()
	e.mu.Lock()
	ds := e.due(now)
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attempts, err := e.deliver(ctx, d.ch, d.msg)
			n := Notification{At: now, Channel: d.ch.name, Kind: d.ch.kind, GroupKey: d.msg.GroupKey,
				Status: d.msg.Status, Outcome: OutcomeSent, Attempts: attempts, Alerts: d.alerts}
			if err != nil {
				n.Outcome, n.Error = OutcomeFailed, err.Error()
				e.log.Warn("notification failed", "channel", d.ch.name, "attempts", attempts, "err", err)
			}
			if _, serr := e.state.AddNotification(context.WithoutCancel(ctx), n); serr != nil {
				e.log.Warn("cannot record notification", "channel", d.ch.name, "err", serr)
			}
			e.mu.Lock()
			e.delivered(d, err == nil, now)
			e.mu.Unlock()
		}()
	}
	wg.Wait()
}

// Alerts lists the pending and firing alerts, most severe first, with why
// each is not notified (silenced, inhibited, acknowledged) if it is not.
func (e *Engine) Alerts() []*Alert {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	var firing, out []*Alert
	for _, a := range e.alerts {
		if a.State == StateFiring {
			firing = append(firing, a)
		}
	}
	for _, a := range e.alerts {
		if a.State == StateResolved {
			continue
		}
		c := a.clone()
		c.SilencedBy = e.silencedBy(a.Labels, now)
		c.InhibitedBy = inhibitedBy(e.inhibit, a, firing)
		if ack, ok := e.acks[a.ID]; ok && e.acked(a) {
			c.AckedBy = ack.By
			if c.AckedBy == "" {
				c.AckedBy = "(anonymous)"
			}
		}
		out = append(out, c)
	}
	sortAlerts(out)
	return out
}

// History lists the newest limit notifications (all when limit <= 0).
func (e *Engine) History(ctx context.Context, limit int) ([]Notification, error) {
	return e.state.Notifications(ctx, limit)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
