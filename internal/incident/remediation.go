package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/store"
)

// Statuses of an action (store.IncidentAction).
const (
	actionRunning     = "running"
	actionDone        = "done"
	actionFailed      = "failed"
	actionSkipped     = "skipped"
	actionProposed    = "proposed"
	actionInterrupted = "interrupted"
)

// actionData is an action's JSON in the store.
type actionData struct {
	Detail string `json:"detail,omitempty"`
	// Alert is the alert that triggered it (remediation).
	Alert string `json:"alert,omitempty"`
	// DoneAt is when it finished; Effect what followed it ("" until
	// known).
	DoneAt time.Time `json:"done_at,omitzero"`
	Effect string    `json:"effect,omitempty"`
}

func encodeActionData(d actionData) string {
	b, _ := json.Marshal(d)
	return string(b)
}

func decodeActionData(s string) actionData {
	var d actionData
	_ = json.Unmarshal([]byte(s), &d)
	return d
}

// rulesFor lists the remediation of alert name on service: the service's
// rules for that alert, then the alert's own.
func rulesFor(c *config.Config, service, name string) []config.Remediation {
	var out []config.Remediation
	if s := c.Services[service]; s != nil {
		for _, r := range s.Remediation {
			if r != nil && r.Alert == name {
				out = append(out, *r)
			}
		}
	}
	for _, a := range c.Alerts {
		if a == nil || a.Alert != name {
			continue
		}
		for _, r := range a.Remediation {
			if r != nil {
				rr := *r
				rr.Alert = name
				out = append(out, rr)
			}
		}
	}
	return out
}

// describe says in words what an action does.
func describe(action, service string) string {
	switch action {
	case config.ActionRollback:
		return "roll back " + service
	case config.ActionRestart:
		return "restart an instance of " + service
	case config.ActionScaleOut:
		return "scale " + service + " out"
	}
	return action + " " + service
}

// remediate runs (or proposes) the remediation tug.yaml declares for a
// firing alert of the incident, within its guards.
func (m *Manager) remediate(ctx context.Context, id int64, a alert.Alert) {
	service := a.Labels["service"]
	_, cfg := m.settings()
	if service == "" || cfg == nil {
		return
	}
	for _, r := range rulesFor(cfg, service, a.Name) {
		m.remediateOne(ctx, id, a, service, r)
	}
}

func (m *Manager) remediateOne(ctx context.Context, id int64, a alert.Alert, service string, r config.Remediation) {
	env := a.Labels["environment"]
	mode := r.Mode
	if mode == "" {
		mode = config.ModeAct
	}
	now := m.now()
	act := &store.IncidentAction{IncidentID: id, Service: service, Environment: env, Action: r.Action, Mode: mode, Who: Tug, At: now}
	what := describe(r.Action, service)
	// Why this action fits, or why it does not apply at all.
	why, target, err := m.precondition(ctx, a, service, env, r)
	if err != nil {
		m.record(ctx, act, actionSkipped, fmt.Sprintf("remediation %s skipped: %v", what, err), a.Name)
		return
	}
	if mode == config.ModePropose {
		text := fmt.Sprintf("proposed: %s (%s); tug takes no action (mode: propose): run `%s`", what, why, proposeCommand(r.Action, service, env, target))
		m.record(ctx, act, actionProposed, text, a.Name)
		m.propose(ctx, id, text)
		return
	}
	if held := m.guard(ctx, service, env, r.Action, now); held != "" {
		m.record(ctx, act, actionSkipped, fmt.Sprintf("remediation %s held back: %s", what, held), a.Name)
		return
	}
	if m.o.Actions == nil {
		m.record(ctx, act, actionSkipped, fmt.Sprintf("remediation %s skipped: this server cannot change what runs", what), a.Name)
		return
	}
	act.Status, act.Data = actionRunning, encodeActionData(actionData{Alert: a.Name, Detail: why})
	if err := m.st.AddIncidentAction(ctx, act); err != nil {
		m.log.Error("incident: recording a remediation", "incident", id, "err", err)
		return
	}
	m.addEntries(ctx, id, entry(now, KindRemediation, "", fmt.Sprintf("remediation: tug will %s (%s)", what, why),
		entryData{Source: "remediation", Who: Tug, Details: map[string]any{"action": r.Action, "mode": mode}}))
	m.goBG(func(bg context.Context) { m.runAction(bg, act, r, a, target, what) })
}

// precondition checks that the action applies to this alert; it returns
// why it fits and its target (the release to roll back, the instance to
// restart, the count to scale to).
func (m *Manager) precondition(ctx context.Context, a alert.Alert, service, env string, r config.Remediation) (why, target string, err error) {
	switch r.Action {
	case config.ActionRollback:
		within := r.Within.D()
		if within <= 0 {
			within = DefaultWithin
		}
		fired := a.StartsAt
		if fired.IsZero() {
			fired = m.now()
		}
		var last *Change
		for _, c := range m.changes(ctx, service, env, fired.Add(-within), fired) {
			if c.Kind == KindDeploy && c.Release != "" {
				c := c
				last = &c
			}
		}
		if last == nil {
			return "", "", fmt.Errorf("no deploy of %s in the %s before %s fired: nothing to roll back", service, within, a.Name)
		}
		return fmt.Sprintf("%s fired %s after %s", a.Name, round(fired.Sub(last.Time)), last.Text), last.Release, nil
	case config.ActionRestart:
		inst := a.Labels["instance"]
		if inst == "" || inst == "proxy" || inst == "tug" {
			return fmt.Sprintf("%s fired", a.Name), "", nil
		}
		return fmt.Sprintf("%s fired on %s", a.Name, inst), inst, nil
	case config.ActionScaleOut:
		if m.o.Actions == nil {
			return "", "", fmt.Errorf("this server cannot change what runs")
		}
		n, err := m.o.Actions.Replicas(ctx, service, env)
		if err != nil {
			return "", "", err
		}
		if n >= r.Max {
			return "", "", fmt.Errorf("%s already runs %d instance(s), its max", service, n)
		}
		return fmt.Sprintf("%s fired; %d → %d instances (max %d)", a.Name, n, n+1, r.Max), fmt.Sprint(n + 1), nil
	}
	return "", "", fmt.Errorf("unknown action %q", r.Action)
}

// guard says why an automatic action must not run now ("" when it may):
// one of its kind on the service in the last hour, or a release waiting
// for approval (or another operation) on it.
func (m *Manager) guard(ctx context.Context, service, env, action string, now time.Time) string {
	prev, err := m.st.IncidentActions(ctx, store.IncidentActionFilter{Service: service, Action: action, Mode: config.ModeAct,
		Since: now.Add(-guardWindow), Statuses: []string{actionRunning, actionDone, actionFailed, actionInterrupted}})
	if err != nil {
		return "cannot read earlier actions: " + err.Error()
	}
	if len(prev) > 0 {
		p := prev[len(prev)-1]
		return fmt.Sprintf("tug already did a %s of %s at %s (incident #%d); at most one automatic %s per service per hour",
			action, service, p.At.Format(time.RFC3339), p.IncidentID, action)
	}
	if m.o.Actions != nil {
		busy, err := m.o.Actions.Busy(ctx, service, env)
		if err != nil {
			return "cannot tell whether the service is busy: " + err.Error()
		}
		if busy != "" {
			return busy
		}
	}
	return ""
}

// runAction carries out an automatic action and records its outcome.
func (m *Manager) runAction(ctx context.Context, act *store.IncidentAction, r config.Remediation, a alert.Alert, target, what string) {
	start := m.now()
	var detail string
	var err error
	switch r.Action {
	case config.ActionRollback:
		var live string
		live, err = m.o.Actions.Rollback(ctx, act.Service, act.Environment, Tug)
		detail = fmt.Sprintf("rolled back %s from %s to %s", act.Service, target, live)
	case config.ActionRestart:
		var inst string
		inst, err = m.o.Actions.Restart(ctx, act.Service, act.Environment, target, Tug)
		detail = fmt.Sprintf("restarted an instance of %s: %s replaced it", act.Service, inst)
		if target != "" {
			detail = fmt.Sprintf("restarted %s: %s replaced it", target, inst)
		}
	case config.ActionScaleOut:
		var before, after int
		var n int
		fmt.Sscan(target, &n)
		before, after, err = m.o.Actions.Scale(ctx, act.Service, act.Environment, n, Tug)
		detail = fmt.Sprintf("scaled %s out from %d to %d instances", act.Service, before, after)
	}
	took := round(m.now().Sub(start))
	status := actionDone
	text := fmt.Sprintf("remediation done: %s in %s", detail, took)
	if err != nil {
		status, detail = actionFailed, fmt.Sprintf("%s failed: %v", what, err)
		text = "remediation failed: " + truncate(detail, 500)
	}
	d := actionData{Alert: a.Name, Detail: detail, DoneAt: m.now()}
	if serr := m.st.SetIncidentActionStatus(context.WithoutCancel(ctx), act.ID, status, encodeActionData(d)); serr != nil {
		m.log.Error("incident: recording a remediation's outcome", "incident", act.IncidentID, "err", serr)
	}
	m.addEntries(ctx, act.IncidentID, entry(m.now(), KindRemediation, "", text,
		entryData{Source: "remediation", Who: Tug, Details: map[string]any{"action": r.Action, "status": status, "took_seconds": m.now().Sub(start).Seconds()}}))
	if err == nil {
		m.mitigating(ctx, act.IncidentID, Tug, detail)
	}
	m.log.Warn("automatic remediation", "incident", act.IncidentID, "action", r.Action, "service", act.Service, "status", status, "detail", detail)
	if m.o.Recorder != nil {
		rec := ActionRecord{Time: start, Who: Tug, Action: r.Action, Service: act.Service, Environment: act.Environment,
			Incident: act.IncidentID, Outcome: status, Detail: detail}
		if rerr := m.o.Recorder.Record(context.WithoutCancel(ctx), rec); rerr != nil {
			m.log.Warn("incident: recording an automatic action for the audit log", "err", rerr)
		}
	}
}

// record stores an action that will not run (skipped, proposed) and its
// timeline entry; skipped automatic actions reach the audit log too.
func (m *Manager) record(ctx context.Context, act *store.IncidentAction, status, text, alertName string) {
	act.Status, act.Data = status, encodeActionData(actionData{Alert: alertName, Detail: text})
	if err := m.st.AddIncidentAction(ctx, act); err != nil {
		m.log.Warn("incident: recording a remediation", "err", err)
	}
	m.addEntries(ctx, act.IncidentID, entry(m.now(), KindRemediation, "", text,
		entryData{Source: "remediation", Who: Tug, Details: map[string]any{"action": act.Action, "mode": act.Mode, "status": status}}))
	if status == actionSkipped && m.o.Recorder != nil {
		rec := ActionRecord{Time: act.At, Who: Tug, Action: act.Action, Service: act.Service, Environment: act.Environment,
			Incident: act.IncidentID, Outcome: status, Detail: text}
		if err := m.o.Recorder.Record(context.WithoutCancel(ctx), rec); err != nil {
			m.log.Warn("incident: recording an automatic action for the audit log", "err", err)
		}
	}
}

func proposeCommand(action, service, env, target string) string {
	envFlag := ""
	if env != "" {
		envFlag = " --env " + env
	}
	switch action {
	case config.ActionRollback:
		return "tug rollback " + service + envFlag
	case config.ActionRestart:
		return strings.TrimSpace("restart "+service+" "+target) + "` as a runbook step (`tug runbook run`)"
	case config.ActionScaleOut:
		return "scale " + service + " " + target + "` as a runbook step (`tug runbook run`)"
	}
	return action
}

// propose posts a proposed action to the incident's channels.
func (m *Manager) propose(ctx context.Context, id int64, text string) {
	rec, err := m.st.GetIncident(ctx, id)
	if err != nil {
		return
	}
	inc, err := fromRecord(rec)
	if err != nil {
		return
	}
	d, _ := decodeData(rec)
	s, _ := m.settings()
	chans := d.Channels
	if len(chans) == 0 {
		chans = s.channels
	}
	for _, ch := range chans {
		m.send(ctx, inc, ch, alert.StateFiring, "proposal", fmt.Sprintf("Incident #%d, %s", id, text), "", s.url)
	}
}

// noteEffects records, for each action of the incident that finished at
// least minAge ago and whose effect is not known yet, what followed it.
func (m *Manager) noteEffects(ctx context.Context, id int64, what string, resolved bool, minAge time.Duration) {
	acts, err := m.st.IncidentActions(ctx, store.IncidentActionFilter{IncidentID: id, Statuses: []string{actionDone}})
	if err != nil {
		return
	}
	now := m.now()
	for _, a := range acts {
		d := decodeActionData(a.Data)
		if d.Effect != "" || d.DoneAt.IsZero() || now.Sub(d.DoneAt) < minAge {
			continue
		}
		d.Effect = fmt.Sprintf("%s %s after the %s", what, round(now.Sub(d.DoneAt)), a.Action)
		if err := m.st.SetIncidentActionStatus(ctx, a.ID, a.Status, encodeActionData(d)); err != nil {
			continue
		}
		m.addEntries(ctx, id, entry(now, KindRemediation, fmt.Sprintf("effect:%d", a.ID), "effect of the "+a.Action+": "+d.Effect,
			entryData{Source: "remediation", Who: Tug, Details: map[string]any{"action": a.Action, "resolved": resolved}}))
	}
}

// noteNoEffect records actions after which the alert kept firing for
// effectWindow.
func (m *Manager) noteNoEffect(ctx context.Context) {
	now := m.now()
	acts, err := m.st.IncidentActions(ctx, store.IncidentActionFilter{Since: now.Add(-guardWindow - effectWindow), Statuses: []string{actionDone}})
	if err != nil {
		return
	}
	for _, a := range acts {
		d := decodeActionData(a.Data)
		if d.Effect != "" || d.DoneAt.IsZero() || now.Sub(d.DoneAt) < effectWindow || a.IncidentID == 0 {
			continue
		}
		m.noteEffects(ctx, a.IncidentID, fmt.Sprintf("%s still firing", d.Alert), false, effectWindow)
	}
}
