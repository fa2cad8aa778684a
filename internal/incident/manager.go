package incident

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// Defaults of the incidents section.
const (
	DefaultGroupWindow = 10 * time.Minute
	DefaultAckTimeout  = 15 * time.Minute
	// DefaultWithin is how soon after a deploy an alert must fire for
	// remediation to roll that deploy back.
	DefaultWithin = 30 * time.Minute
	// lookBack is how far before an incident its context is gathered.
	lookBack = time.Hour
	// guardWindow allows one automatic action of a kind per service in it.
	guardWindow = time.Hour
	// effectWindow is how long an action's effect is waited for.
	effectWindow = 10 * time.Minute
)

// DefaultOpenFor are the severities that open incidents by default.
func DefaultOpenFor() []string { return []string{"P0", "P1"} }

// Options are New's dependencies. Store and Config are required; a nil
// Notifier, Actions, Logs or Query leaves out what needs it (and says so
// in the timeline where it matters).
type Options struct {
	Store *store.Store
	// Config returns the config in force (it changes on reloads).
	Config func() *config.Config
	// Dir is the directory of tug.yaml: runbooks/ and shell steps live
	// there.
	Dir      string
	Notifier Notifier
	Actions  Actions
	// Changes feed the timelines (see ChangeSource).
	Changes []ChangeSource
	Logs    LogSearcher
	// Query evaluates PromQL at the clock's now to one number (failed
	// requests in post-mortems, runbook query steps).
	Query func(ctx context.Context, expr string) (float64, error)
	// SecretValues returns every secret value a runbook step could see
	// (the shared ones and every environment's, whatever the store, the
	// environment or the local file holds), to mask them in its command,
	// output and errors. Called once per step; nil masks nothing.
	SecretValues func(ctx context.Context) []secret.Value
	// ShellEnv is added to the environment of shell steps (the server's
	// state directory, so that `tug` in a step reaches this server).
	ShellEnv []string
	// Recorder hears of automatic actions (the audit log); nil: nobody.
	Recorder Recorder
	// Registerer receives the tug_incidents_* metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
	// TickEvery is how often Run escalates and checks effects (default 1s).
	TickEvery time.Duration
}

// Manager runs the incident room. Its methods are safe for concurrent
// use; Run drives it in a server, tests call HandleAlert and Tick with an
// injected clock instead.
type Manager struct {
	o   Options
	st  *store.Store
	log *slog.Logger
	now func() time.Time

	// mu serialises deciding whether an alert opens an incident or joins
	// one, so two alerts of a service never open two.
	mu sync.Mutex

	qmu     sync.Mutex
	pending []alert.Change
	wake    chan struct{}

	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	started time.Time
	keyOnce sync.Once
	key     []byte
	keyErr  error
}

// New builds a Manager and marks runbook steps and actions an earlier
// server left running as interrupted.
func New(ctx context.Context, o Options) (*Manager, error) {
	if o.Store == nil || o.Config == nil {
		return nil, errors.New("incident: Store and Config are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TickEvery <= 0 {
		o.TickEvery = time.Second
	}
	m := &Manager{o: o, st: o.Store, log: o.Logger, now: o.Now, wake: make(chan struct{}, 1)}
	m.bg, m.cancel = context.WithCancel(context.WithoutCancel(ctx))
	m.started = m.now()
	if err := m.recoverInterrupted(ctx); err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(newCollector(m)); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("incident metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Close stops background work (notifications, remediation) and waits for
// it. The Manager must not be used afterwards.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Wait blocks until the background work started so far (notifications,
// remediation actions) has ended. Tests use it; Close does it too.
func (m *Manager) Wait() { m.wg.Wait() }

// Observe queues an alert change; it never blocks. It implements
// alert.Observer.
func (m *Manager) Observe(c alert.Change) {
	m.qmu.Lock()
	m.pending = append(m.pending, c)
	m.qmu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

var _ alert.Observer = (*Manager)(nil)

// Run handles queued alert changes as they come and ticks every
// Options.TickEvery until ctx ends; then it cancels the background work
// (notifications, remediation in progress), which Close waits for.
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.o.TickEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			m.cancel()
			return nil
		case <-m.wake:
			m.qmu.Lock()
			batch := m.pending
			m.pending = nil
			m.qmu.Unlock()
			for _, c := range batch {
				m.HandleAlert(ctx, c)
			}
		case <-t.C:
			m.Tick(ctx)
		}
	}
}

// settings are the incidents section with defaults applied.
type settings struct {
	openFor     []string
	groupWindow time.Duration
	ackTimeout  time.Duration
	levels      []*config.EscalationLevel
	url         string
	autoResolve bool
	channels    []string // every declared notify channel
}

func (m *Manager) settings() (settings, *config.Config) {
	c := m.o.Config()
	s := settings{openFor: DefaultOpenFor(), groupWindow: DefaultGroupWindow, ackTimeout: DefaultAckTimeout, autoResolve: true}
	if c == nil {
		return s, &config.Config{}
	}
	if in := c.Incidents; in != nil {
		if in.OpenFor != nil {
			s.openFor = in.OpenFor
		}
		if in.GroupWindow > 0 {
			s.groupWindow = in.GroupWindow.D()
		}
		if in.AckTimeout > 0 {
			s.ackTimeout = in.AckTimeout.D()
		}
		s.levels, s.url = in.Escalation, in.URL
		if in.AutoResolve != nil {
			s.autoResolve = *in.AutoResolve
		}
	}
	if c.Notify != nil {
		for _, ch := range c.Notify.Channels {
			if ch != nil && ch.Name != "" {
				s.channels = append(s.channels, ch.Name)
			}
		}
	}
	return s, c
}

// opens says whether severity sev is one of list (as written: P1, high).
func opens(list []string, sev string) bool {
	return slices.ContainsFunc(list, func(s string) bool {
		p, _ := alert.Severity(s)
		return p == sev
	})
}

// HandleAlert opens, joins or resolves incidents for one alert change.
func (m *Manager) HandleAlert(ctx context.Context, c alert.Change) {
	var err error
	if c.Alert.State == alert.StateResolved {
		err = m.alertResolved(ctx, c.Alert)
	} else {
		err = m.alertFired(ctx, c)
	}
	if err != nil {
		m.log.Error("incident: handling an alert", "alert", c.Alert.Name, "state", c.Alert.State, "err", err)
	}
}

func refOf(a alert.Alert) AlertRef {
	sev, _ := alert.Severity(a.Severity)
	return AlertRef{ID: a.ID, Name: a.Name, Severity: sev, State: a.State, Value: a.Value, ActiveAt: a.ActiveAt, StartsAt: a.StartsAt,
		EndsAt: a.EndsAt, Labels: a.Labels, Runbook: a.Annotations["runbook"]}
}

func alertKey(a alert.Alert, what string) string {
	return "alert:" + a.ID + ":" + a.StartsAt.UTC().Format(time.RFC3339Nano) + ":" + what
}

func alertText(a alert.Alert) string {
	sev, _ := alert.Severity(a.Severity)
	text := fmt.Sprintf("%s %s fired (value %s)", sev, a.Name, formatValue(a.Value))
	if s := a.Annotations["summary"]; s != "" {
		text += ": " + s
	}
	return text
}

func formatValue(v float64) string { return fmt.Sprintf("%.4g", v) }

func (m *Manager) alertFired(ctx context.Context, c alert.Change) error {
	a := c.Alert
	s, _ := m.settings()
	openFor := s.openFor
	if c.OpenFor != nil {
		openFor = c.OpenFor
	}
	sev, _ := alert.Severity(a.Severity)
	service, env := a.Labels["service"], a.Labels["environment"]
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	open, err := m.openOf(ctx, service)
	if err != nil {
		return err
	}
	fired := entry(now, KindAlert, alertKey(a, "fired"), alertText(a), entryData{Source: "alerts", Who: Tug,
		Details: map[string]any{"alert": a.Name, "value": a.Value, "severity": sev, "labels": a.Labels, "active_at": a.ActiveAt}})
	// An alert an open incident holds already: firing, it is heard again
	// (a restarted server); resolved, it fires anew and joins it again.
	for _, o := range open {
		if i := slices.IndexFunc(o.d.Alerts, func(r AlertRef) bool { return r.ID == a.ID }); i >= 0 {
			if o.d.Alerts[i].State == alert.StateFiring {
				return nil
			}
			return m.join(ctx, o.rec.ID, c, fired)
		}
	}
	if !opens(openFor, sev) {
		// Not an incident by itself: context for an open one of its service.
		if service != "" && len(open) > 0 {
			_, err := m.st.AddIncidentEntries(ctx, open[0].rec.ID, []store.IncidentEntry{fired})
			return err
		}
		return nil
	}
	for _, o := range open {
		if now.Sub(o.rec.OpenedAt) <= s.groupWindow && (env == "" || o.rec.Environment == "" || env == o.rec.Environment) {
			return m.join(ctx, o.rec.ID, c, fired)
		}
	}
	return m.openFromAlert(ctx, c, fired)
}

// held is an open incident with its data decoded.
type held struct {
	rec store.Incident
	d   data
}

// openOf lists the open incidents of service, newest first.
func (m *Manager) openOf(ctx context.Context, service string) ([]held, error) {
	recs, err := m.st.ListIncidents(ctx, store.IncidentFilter{States: OpenStates(), Service: service})
	if err != nil {
		return nil, err
	}
	out := make([]held, 0, len(recs))
	for _, rec := range recs {
		d, err := decodeData(&rec)
		if err != nil {
			return nil, err
		}
		out = append(out, held{rec, d})
	}
	return out, nil
}

// join adds an alert to an open incident, raising its severity if the
// alert is more severe.
func (m *Manager) join(ctx context.Context, id int64, c alert.Change, fired store.IncidentEntry) error {
	a := c.Alert
	_, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		if i := slices.IndexFunc(d.Alerts, func(r AlertRef) bool { return r.ID == a.ID }); i >= 0 {
			d.Alerts[i] = refOf(a) // fired again
		} else {
			d.Alerts = append(d.Alerts, refOf(a))
		}
		out := []store.IncidentEntry{fired}
		if sev, _ := alert.Severity(a.Severity); severityRank(sev) < severityRank(rec.Severity) {
			out = append(out, entry(now, KindState, "", fmt.Sprintf("severity raised from %s to %s by %s", rec.Severity, sev, a.Name),
				entryData{Source: "alerts", Who: Tug}))
			rec.Severity = sev
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	m.log.Info("alert joined incident", "incident", id, "alert", a.Name)
	m.gather(ctx, id)
	m.remediate(ctx, id, a)
	return nil
}

func severityRank(s string) int {
	for i, p := range []string{"P0", "P1", "P2", "P3"} {
		if p == s {
			return i
		}
	}
	return 4
}

// openFromAlert opens an incident for a firing alert.
func (m *Manager) openFromAlert(ctx context.Context, c alert.Change, fired store.IncidentEntry) error {
	a := c.Alert
	sev, _ := alert.Severity(a.Severity)
	service, env := a.Labels["service"], a.Labels["environment"]
	title := a.Annotations["summary"]
	if title == "" {
		title = a.Name
		if service != "" {
			title += " on " + service
		}
	}
	now := m.now()
	rec := &store.Incident{Title: title, Severity: sev, Service: service, Environment: env, State: StateDetected, OpenedAt: now}
	encodeData(rec, data{OpenedBy: Tug, Auto: true, Alerts: []AlertRef{refOf(a)}})
	detected := entry(now, KindState, "", fmt.Sprintf("detected by tug: %s fired", a.Name), entryData{Source: "alerts", Who: Tug})
	if err := m.st.CreateIncident(ctx, rec, []store.IncidentEntry{fired, detected}); err != nil {
		return err
	}
	m.log.Warn("incident opened", "incident", rec.ID, "severity", sev, "service", service, "alert", a.Name)
	m.gather(ctx, rec.ID)
	m.page(ctx, rec.ID, "opened")
	m.remediate(ctx, rec.ID, a)
	return nil
}

// alertResolved marks the alert resolved in the open incidents that hold
// it, notes the effect of the actions taken, and resolves an incident
// whose alerts have all resolved.
func (m *Manager) alertResolved(ctx context.Context, a alert.Alert) error {
	s, _ := m.settings()
	open, err := m.openOf(ctx, a.Labels["service"])
	if err != nil {
		return err
	}
	for _, o := range open {
		if !slices.ContainsFunc(o.d.Alerts, func(r AlertRef) bool { return r.ID == a.ID && r.State == alert.StateFiring }) {
			continue
		}
		if err := m.resolveAlert(ctx, o.rec.ID, a, s.autoResolve); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) resolveAlert(ctx context.Context, id int64, a alert.Alert, autoResolve bool) error {
	resolvedNow := false
	inc, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		var out []store.IncidentEntry
		all := true
		for i := range d.Alerts {
			r := &d.Alerts[i]
			if r.ID == a.ID && r.State == alert.StateFiring {
				r.State, r.EndsAt = alert.StateResolved, a.EndsAt
				if r.EndsAt.IsZero() {
					r.EndsAt = now
				}
				out = append(out, entry(now, KindAlert, alertKey(alert.Alert{ID: r.ID, StartsAt: r.StartsAt}, "resolved"),
					fmt.Sprintf("%s resolved after %s", r.Name, round(r.EndsAt.Sub(r.StartsAt))), entryData{Source: "alerts", Who: Tug}))
			}
			all = all && r.State == alert.StateResolved
		}
		if all && d.Auto && autoResolve && isOpen(rec.State) {
			rec.State, rec.ResolvedAt, d.ResolvedBy = StateResolved, now, Tug
			out = append(out, entry(now, KindState, "", fmt.Sprintf("resolved by tug: every alert has resolved (time to resolve %s)",
				round(now.Sub(rec.OpenedAt))), entryData{Who: Tug}))
			resolvedNow = true
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	m.noteEffects(ctx, id, fmt.Sprintf("%s resolved", a.Name), true, 0)
	if resolvedNow {
		m.log.Info("incident resolved", "incident", id, "by", Tug, "mttr", inc.ResolvedAt.Sub(inc.OpenedAt))
		m.gather(ctx, id)
		m.page(ctx, id, "resolved")
	}
	return nil
}

// round shortens durations for timeline text.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// update runs fn on incident id in one store transaction with its data
// decoded, and writes both back with fn's entries.
func (m *Manager) update(ctx context.Context, id int64, fn func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error)) (*store.Incident, error) {
	rec, err := m.st.UpdateIncident(ctx, id, func(rec *store.Incident) ([]store.IncidentEntry, error) {
		d, err := decodeData(rec)
		if err != nil {
			return nil, err
		}
		out, err := fn(rec, &d, m.now())
		if err != nil {
			return nil, err
		}
		encodeData(rec, d)
		return out, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: incident %d", ErrNotFound, id)
	}
	return rec, err
}

// Tick escalates unacknowledged incidents, notes actions that had no
// effect, and resolves incidents whose alerts resolved while no server
// ran. Run calls it every TickEvery; tests call it after moving the clock.
func (m *Manager) Tick(ctx context.Context) {
	open, err := m.st.ListIncidents(ctx, store.IncidentFilter{States: OpenStates()})
	if err != nil {
		m.log.Warn("incident tick", "err", err)
		return
	}
	for _, rec := range open {
		if rec.State == StateDetected {
			m.escalate(ctx, rec)
		}
	}
	m.noteNoEffect(ctx)
	m.reconcile(ctx, open)
}

// reconcile resolves the alerts of open incidents that no longer fire,
// once the alert engine has evaluated since this manager started: their
// resolution was never observed (they resolved while no server ran).
func (m *Manager) reconcile(ctx context.Context, open []store.Incident) {
	if m.o.Notifier == nil || len(open) == 0 {
		return
	}
	firing, ok := m.o.Notifier.Firing()
	if !ok {
		return
	}
	now := m.now()
	s, _ := m.settings()
	for _, rec := range open {
		d, err := decodeData(&rec)
		if err != nil {
			continue
		}
		for _, r := range d.Alerts {
			if r.State != alert.StateFiring || r.StartsAt.After(m.started) {
				continue
			}
			if !slices.ContainsFunc(firing, func(a *alert.Alert) bool { return a.ID == r.ID }) {
				gone := alert.Alert{ID: r.ID, Name: r.Name, State: alert.StateResolved, StartsAt: r.StartsAt, EndsAt: now, Labels: r.Labels}
				if err := m.resolveAlert(ctx, rec.ID, gone, s.autoResolve); err != nil {
					m.log.Warn("incident: reconciling a resolved alert", "incident", rec.ID, "err", err)
				}
			}
		}
	}
}

// recoverInterrupted marks what an earlier server left running as
// interrupted, in the records and the timelines.
func (m *Manager) recoverInterrupted(ctx context.Context) error {
	acts, err := m.st.IncidentActions(ctx, store.IncidentActionFilter{Statuses: []string{actionRunning}})
	if err != nil {
		return err
	}
	for _, a := range acts {
		detail := "interrupted: the server stopped while it ran; check the service's state"
		if err := m.st.SetIncidentActionStatus(ctx, a.ID, actionInterrupted, encodeActionData(actionData{Detail: detail})); err != nil {
			return err
		}
		if a.IncidentID > 0 {
			m.addEntries(ctx, a.IncidentID, entry(m.now(), KindRemediation, "", fmt.Sprintf("%s of %s %s", a.Action, a.Service, detail),
				entryData{Source: "remediation", Who: a.Who}))
		}
	}
	return m.recoverRuns(ctx)
}

// addEntries appends entries to a timeline, logging failures.
func (m *Manager) addEntries(ctx context.Context, id int64, es ...store.IncidentEntry) {
	if _, err := m.st.AddIncidentEntries(context.WithoutCancel(ctx), id, es); err != nil {
		m.log.Warn("incident timeline", "incident", id, "err", err)
	}
}

// goBG runs f in the background, tracked by Close and Wait.
func (m *Manager) goBG(f func(ctx context.Context)) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f(m.bg)
	}()
}
