package alert

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Change is an alert that started firing or resolved, as an Observer
// hears of it.
type Change struct {
	// Alert is the alert after the change: State is firing or resolved.
	Alert Alert
	// OpenFor is the union of the open_for lists of the notify routes the
	// alert matches; nil when none of them sets one (then the incident
	// room's own default applies), empty when they say "none".
	OpenFor []string
}

// Observer hears of every alert that starts firing (a new firing episode:
// a new StartsAt) and of every firing alert that resolves or goes away.
// The engine calls Observe after each evaluation, from the evaluating
// goroutine, once per change, in order; Observe must return quickly
// (queue the work) and must not call back into the engine. An engine that
// adopts another's state (a reload) reports only what changes after.
type Observer interface {
	Observe(c Change)
}

// changes lists what changed between prev and next at ts; e.mu is held.
func (e *Engine) changes(prev, next map[string]*Alert, ts time.Time) []Change {
	var out []Change
	for id, a := range next {
		if a.State != StateFiring {
			continue
		}
		if p := prev[id]; p == nil || p.State != StateFiring || !p.StartsAt.Equal(a.StartsAt) {
			out = append(out, Change{Alert: *a.clone(), OpenFor: e.openFor(a.Labels)})
		}
	}
	for id, p := range prev {
		if p.State != StateFiring {
			continue
		}
		a := next[id]
		switch {
		case a == nil:
			r := p.clone()
			r.State, r.EndsAt = StateResolved, ts.UTC()
			out = append(out, Change{Alert: *r, OpenFor: e.openFor(r.Labels)})
		case a.State == StateResolved:
			out = append(out, Change{Alert: *a.clone(), OpenFor: e.openFor(a.Labels)})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		// Resolutions first, then by time: an observer grouping by service
		// sees an episode end before the next one starts.
		if (a.Alert.State == StateResolved) != (b.Alert.State == StateResolved) {
			if a.Alert.State == StateResolved {
				return -1
			}
			return 1
		}
		return a.Alert.StartsAt.Compare(b.Alert.StartsAt)
	})
	return out
}

// openFor is what the routes matching lbls say about opening incidents.
func (e *Engine) openFor(lbls map[string]string) []string {
	var out []string
	for _, r := range routesFor(e.routes, lbls) {
		if r.openFor != nil {
			if out == nil {
				out = []string{}
			}
			out = append(out, r.openFor...)
		}
	}
	return out
}

// Send hands m to the channel named channel with the retries of every
// notification, records it in the notification history, and returns that
// record; the error is the last delivery error. A channel that does not
// exist is ErrNotFound. It is how other rooms (incidents) notify through
// the channels tug.yaml declares.
func (e *Engine) Send(ctx context.Context, channel string, m *Message) (Notification, error) {
	nc := e.channels[channel]
	if nc == nil {
		return Notification{}, fmt.Errorf("%w: notify channel %q", ErrNotFound, channel)
	}
	now := e.now()
	attempts, err := e.deliver(ctx, nc, m)
	n := Notification{At: now, Channel: nc.name, Kind: nc.kind, GroupKey: m.GroupKey, Status: m.Status,
		Outcome: OutcomeSent, Attempts: attempts}
	for _, a := range m.Alerts {
		sev, _ := Severity(a.Labels[LabelSeverity])
		n.Alerts = append(n.Alerts, NotifiedAlert{ID: a.Fingerprint, Name: a.Labels[LabelAlertName], Status: a.Status, Severity: sev})
	}
	if err != nil {
		n.Outcome, n.Error = OutcomeFailed, err.Error()
	}
	id, serr := e.state.AddNotification(context.WithoutCancel(ctx), n)
	if serr != nil {
		e.log.Warn("cannot record notification", "channel", nc.name, "err", serr)
	}
	n.ID = id
	return n, err
}

// NewMessage builds a notification of alerts (any order) for receiver, as
// the engine builds its own.
func NewMessage(receiver, groupKey, externalURL string, groupLabels map[string]string, alerts []*Alert) *Message {
	sorted := slices.Clone(alerts)
	sortAlerts(sorted)
	return newMessage(receiver, groupKey, externalURL, groupLabels, sorted)
}
