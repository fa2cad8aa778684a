package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// statusPageName names the status page's route in the routing table.
const statusPageName = "status-page"

// incidentRoom is the incident room as the server runs it: the manager,
// the relay the alert engines report to (built before the manager), and
// the loopback listener of the public status page.
type incidentRoom struct {
	mgr   atomic.Pointer[incident.Manager]
	relay alertRelay
	// statusAddr is the status page's loopback listener, which the proxy
	// routes the status page's route to: a listener of its own, so the
	// public route can never reach the API.
	statusAddr string
}

// alertRelay passes the alert engines' changes to the incident manager
// once it exists; none arrive before (engines run only once the server
// serves).
type alertRelay struct {
	to atomic.Pointer[incident.Manager]
}

// Observe implements alert.Observer.
func (r *alertRelay) Observe(c alert.Change) {
	if m := r.to.Load(); m != nil {
		m.Observe(c)
	}
}

var _ alert.Observer = (*alertRelay)(nil)

// manager is the incident manager, for the API (nil before it starts).
func (r *incidentRoom) manager() *incident.Manager { return r.mgr.Load() }

// run handles alert changes and ticks until ctx ends.
func (r *incidentRoom) run(ctx context.Context) {
	if m := r.manager(); m != nil {
		_ = m.Run(ctx)
	}
}

// openStatusPage binds the status page's loopback listener, before the
// deploy manager builds its first routing table. It serves nothing but
// the status page.
func (d *daemon) openStatusPage(context.Context) error {
	d.incidents = &incidentRoom{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("status page listener: %w", err)
	}
	d.incidents.statusAddr = ln.Addr().String()
	room := d.incidents
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m := room.manager()
			if m == nil {
				http.Error(w, "starting", http.StatusServiceUnavailable)
				return
			}
			m.StatusPage().ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	d.later(func() {
		srv.Close()
		<-done
	})
	return nil
}

// statusRoutes is the status page's route in the routing table, when
// tug.yaml asks for one.
func (d *daemon) statusRoutes(c *config.Config) []deploy.TugRoute {
	if c.Incidents == nil || c.Incidents.StatusPage == nil || c.Incidents.StatusPage.Route == "" || d.incidents == nil {
		return nil
	}
	return []deploy.TugRoute{{Route: c.Incidents.StatusPage.Route, Name: statusPageName, Addr: d.incidents.statusAddr}}
}

// startIncidents builds the incident manager over the store, the alert
// engine in force, the deploy manager, the logs and the metrics; alert
// changes reach it from here on.
func (d *daemon) startIncidents(ctx context.Context) error {
	current := func() *config.Config { return d.src.Current().Config }
	m, err := incident.New(ctx, incident.Options{
		Store:    d.store,
		Config:   current,
		Dir:      filepath.Dir(d.o.ConfigPath),
		Notifier: &incidentNotifier{mon: d.mon, since: d.o.Now()},
		Actions:  &incidentActions{mgr: d.mgr, st: d.store, config: current},
		Changes: []incident.ChangeSource{
			releaseChanges{st: d.store},
			flagChanges{st: d.store},
			logChanges{lg: d.logs},
		},
		Logs:  d.logs,
		Query: d.mon.mon.Query,
		SecretValues: func(ctx context.Context) []secret.Value {
			return d.secrets.sources.Every(ctx, current())
		},
		ShellEnv:   []string{"TUG_STATE_DIR=" + d.o.StateDir},
		Recorder:   auditedActions{log: d.audit},
		Registerer: d.o.Registry,
		Logger:     d.log.With("room", "incident"),
		Now:        d.o.Now,
	})
	if err != nil {
		return err
	}
	d.incidents.mgr.Store(m)
	d.incidents.relay.to.Store(m)
	d.later(m.Close)
	return nil
}

// incidentNotifier is the alert engine in force as the incident room's
// Notifier.
type incidentNotifier struct {
	mon   *monitoring
	since time.Time
}

func (n *incidentNotifier) Send(ctx context.Context, channel string, m *alert.Message) (alert.Notification, error) {
	return n.mon.engineInForce().Send(ctx, channel, m)
}

func (n *incidentNotifier) History(ctx context.Context, limit int) ([]alert.Notification, error) {
	return n.mon.engineInForce().History(ctx, limit)
}

// Firing is known once the engine had three evaluations since the server
// started: alerts that fired before have fired again by then.
func (n *incidentNotifier) Firing() ([]*alert.Alert, bool) {
	e := n.mon.engineInForce()
	if time.Since(n.since) < 3*e.Interval()+5*time.Second {
		return nil, false
	}
	var out []*alert.Alert
	for _, a := range e.Alerts() {
		if a.State == alert.StateFiring {
			out = append(out, a)
		}
	}
	return out, true
}

var _ incident.Notifier = (*incidentNotifier)(nil)

// incidentActions is the deploy manager as the incident room's Actions.
type incidentActions struct {
	mgr    *deploy.Manager
	st     *store.Store
	config func() *config.Config
}

func (a *incidentActions) Rollback(ctx context.Context, service, env, who string) (string, error) {
	rel, err := a.mgr.Rollback(ctx, service, env, who, nil)
	if err != nil {
		return "", err
	}
	return rel.ID, nil
}

func (a *incidentActions) Restart(ctx context.Context, service, env, instance, who string) (string, error) {
	return a.mgr.Restart(ctx, service, env, instance, who, nil)
}

func (a *incidentActions) Scale(ctx context.Context, service, env string, n int, who string) (int, int, error) {
	return a.mgr.Scale(ctx, service, env, n, who, nil)
}

func (a *incidentActions) envOf(env string) string {
	if env == "" {
		return a.config().DefaultEnvironment()
	}
	return env
}

func (a *incidentActions) Replicas(ctx context.Context, service, env string) (int, error) {
	env = a.envOf(env)
	st, err := a.mgr.Status(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range st {
		if s.Service != service || s.Environment != env || len(s.Live) == 0 {
			continue
		}
		n := 0
		for _, in := range s.Instances {
			if in.Release == s.Live[0].Release {
				n++
			}
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: %s/%s has no live release", deploy.ErrNothingLive, service, env)
}

func (a *incidentActions) Busy(ctx context.Context, service, env string) (string, error) {
	env = a.envOf(env)
	rels, err := a.st.ListReleases(ctx, service, env, 20)
	if err != nil {
		return "", err
	}
	for _, r := range rels {
		switch r.Status {
		case deploy.StatusAwaiting:
			return fmt.Sprintf("release %s of %s awaits approval; tug acts on nothing while it waits", r.ID, service), nil
		case deploy.StatusDeploying, deploy.StatusPending:
			return fmt.Sprintf("release %s of %s is being deployed", r.ID, service), nil
		}
	}
	return "", nil
}

var _ incident.Actions = (*incidentActions)(nil)

// releaseChanges reports a service's deploys, approvals and rollbacks
// from the releases in the store.
type releaseChanges struct{ st *store.Store }

func (s releaseChanges) Changes(ctx context.Context, service, env string, from, to time.Time) ([]incident.Change, error) {
	rels, err := s.st.ListReleases(ctx, service, env, 200)
	if err != nil {
		return nil, err
	}
	var out []incident.Change
	for _, r := range rels {
		if r.CreatedAt.Before(from.Add(-24*time.Hour)) && (r.FinishedAt.IsZero() || r.FinishedAt.Before(from)) {
			break // newest first: the rest is older still
		}
		what := r.Revision
		if r.Digest != "" {
			what = r.Digest
		}
		if len(what) > 12 {
			what = what[:12]
		}
		text := fmt.Sprintf("deploy %s of %s to %s started by %s (%s, %s)", r.ID, r.Service, r.Environment, orSomeone(r.Who), r.Strategy, what)
		if r.Status == deploy.StatusFailed {
			text += ": it failed"
		}
		c := incident.Change{Time: r.CreatedAt, Kind: incident.KindDeploy, Text: text, Source: "releases", Who: r.Who, Key: "release:" + r.ID + ":deploy"}
		switch r.Status {
		case deploy.StatusLive, deploy.StatusSuperseded, deploy.StatusRolledBack, deploy.StatusDeploying:
			c.Release = r.ID // it took traffic
		}
		out = append(out, c)
		if !r.ApprovedAt.IsZero() {
			out = append(out, incident.Change{Time: r.ApprovedAt, Kind: incident.KindApproval, Source: "releases", Who: r.ApprovedBy,
				Text: fmt.Sprintf("release %s of %s approved by %s", r.ID, r.Service, orSomeone(r.ApprovedBy)), Key: "release:" + r.ID + ":approval"})
		}
		if r.Status == deploy.StatusRolledBack && !r.FinishedAt.IsZero() {
			out = append(out, incident.Change{Time: r.FinishedAt, Kind: incident.KindRollback, Source: "releases",
				Text: fmt.Sprintf("release %s of %s %s", r.ID, r.Service, firstLine(r.Reason)), Key: "release:" + r.ID + ":rollback"})
		}
	}
	return out, nil
}

func orSomeone(s string) string {
	if s == "" {
		return "someone"
	}
	return s
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// flagChanges reports the changes of the feature flags that reach a
// service, from the flags room's history in the store.
type flagChanges struct{ st *store.Store }

func (s flagChanges) Changes(ctx context.Context, service, env string, from, to time.Time) ([]incident.Change, error) {
	cs, err := s.st.FlagChanges(ctx, store.FlagChangeQuery{Service: service, Environment: env, Since: from, Until: to.Add(time.Nanosecond)})
	if err != nil {
		return nil, err
	}
	out := make([]incident.Change, 0, len(cs))
	for _, c := range cs {
		text := fmt.Sprintf("flag %s in %s: %s by %s", c.Flag, c.Environment, c.Kind, orSomeone(c.Who))
		if c.After != "" {
			text += ", now " + truncate(c.After, 160)
		}
		if c.Reason != "" {
			text += " (" + c.Reason + ")"
		}
		out = append(out, incident.Change{Time: c.Time, Kind: incident.KindFlag, Text: text, Source: "flags", Who: c.Who,
			Key: "flag:" + strconv.FormatInt(c.Seq, 10)})
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// logChanges reports config applies, instance restarts, crash loops and
// scaling from tug's own log, where the server, the runtimes and the
// deploy manager record them.
type logChanges struct{ lg *logs.Logs }

var tugChange = regexp.MustCompile(`^(INFO|WARN|ERROR) (config applied|instance exited|instance restarted|instance is crash-looping|service scaled)\b`)

func (s logChanges) Changes(ctx context.Context, service, _ string, from, to time.Time) ([]incident.Change, error) {
	if s.lg == nil {
		return nil, nil
	}
	lines, err := s.lg.Search(ctx, logs.Query{Service: logs.ServiceTug, Since: from, Grep: tugChange, Limit: 2000})
	if err != nil {
		return nil, err
	}
	var out []incident.Change
	for _, l := range lines {
		if l.Time.After(to) {
			continue
		}
		m := tugChange.FindStringSubmatch(l.Text)
		c := incident.Change{Time: l.Time, Text: strings.TrimSpace(strings.TrimPrefix(l.Text, m[1])), Source: "tug log", Key: "log:" + strconv.FormatInt(l.ID, 10)}
		mine := strings.Contains(l.Text, "service="+service+" ") || strings.HasSuffix(l.Text, "service="+service) ||
			strings.Contains(l.Text, "instance="+service+"-")
		switch m[2] {
		case "config applied":
			c.Kind, c.Source, mine = incident.KindConfig, "config", true
		case "instance is crash-looping":
			c.Kind, c.Source = incident.KindCrashLoop, "runtime"
		case "service scaled":
			c.Kind = incident.KindScale
		default:
			c.Kind, c.Source = incident.KindRestart, "runtime"
		}
		if mine {
			out = append(out, c)
		}
	}
	return out, nil
}

// auditedActions writes the incident room's automatic actions
// (remediations done, failed or skipped by a guard) to the audit log, as
// tug's own: the service as the target, the incident and the outcome in
// the detail.
type auditedActions struct{ log *audit.Log }

func (r auditedActions) Record(ctx context.Context, a incident.ActionRecord) error {
	target := a.Service
	if a.Environment != "" {
		target += "/" + a.Environment
	}
	rec := audit.Record{Time: a.Time, Actor: a.Who, Action: "incident.remediate", Target: target, Outcome: audit.OK,
		Detail: fmt.Sprintf("incident %d: %s %s: %s", a.Incident, a.Action, a.Outcome, a.Detail)}
	if a.Outcome == "failed" {
		rec.Outcome = audit.Failed
	}
	return r.log.Record(ctx, rec)
}

var (
	_ incident.ChangeSource = releaseChanges{}
	_ incident.ChangeSource = flagChanges{}
	_ incident.ChangeSource = logChanges{}
	_ incident.Recorder     = auditedActions{}
)
