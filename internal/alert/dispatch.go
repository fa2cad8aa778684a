package alert

import (
	"maps"
	"sort"
	"time"
)

// aggrGroup is Alertmanager's aggregation group: the alerts one route
// sends to its channel with the same group labels, notified together.
type aggrGroup struct {
	id     string // key in Engine.aggr
	key    string // the payload's groupKey
	route  *route
	labels map[string]string
	alerts map[string]*Alert // latest view by fingerprint
	// sent is what the channel was last told about each alert (firing or
	// resolved); an alert never notified is absent.
	sent       map[string]string
	next       time.Time // next flush
	lastNotify time.Time
	flushed    bool
	sending    bool
}

// delivery is one message to hand to a channel.
type delivery struct {
	group    *aggrGroup
	ch       *namedChannel
	msg      *Message
	firing   []string
	resolved []string
	alerts   []NotifiedAlert
}

// route files alerts (firing and resolved) into aggregation groups; e.mu
// is held.
func (e *Engine) route(now time.Time) {
	for _, a := range e.alerts {
		if a.State == StatePending {
			continue
		}
		for _, r := range routesFor(e.routes, a.Labels) {
			gl := groupLabels(r.groupBy, a.Labels)
			key := r.key + ":" + labelString(gl)
			id := r.id + "|" + key
			g := e.aggr[id]
			if g == nil {
				if a.State == StateResolved {
					continue // nobody was told it fired
				}
				g = &aggrGroup{id: id, key: key, route: r, labels: gl, alerts: map[string]*Alert{},
					sent: map[string]string{}, next: now.Add(r.wait)}
				e.aggr[id] = g
			}
			g.alerts[a.ID] = a
		}
	}
	// Alerts gone from the rules (rule removed, resolution retention over)
	// count as resolved.
	for _, g := range e.aggr {
		for id, a := range g.alerts {
			if _, ok := e.alerts[id]; !ok && a.State != StateResolved {
				r := a.clone()
				r.State, r.EndsAt = StateResolved, now
				g.alerts[id] = r
			}
		}
	}
}

// due collects the messages whose group is due at now and marks those
// groups as sending; e.mu is held.
func (e *Engine) due(now time.Time) []*delivery {
	var firingAll []*Alert
	for _, a := range e.alerts {
		if a.State == StateFiring {
			firingAll = append(firingAll, a)
		}
	}
	keys := make([]string, 0, len(e.aggr))
	for k := range e.aggr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []*delivery
	for _, k := range keys {
		g := e.aggr[k]
		if g.sending || now.Before(g.next) {
			continue
		}
		var send []*Alert
		var firing, resolved []string
		changed, unacked := false, false
		for id, a := range g.alerts {
			muted := len(e.silencedBy(a.Labels, now)) > 0 || inhibitedBy(e.inhibit, a, firingAll) != ""
			switch {
			case a.State == StateFiring && !muted:
				send = append(send, a)
				firing = append(firing, id)
				if g.sent[id] != StateFiring {
					changed = true
				}
				if g.route.refresh || !e.acked(a) {
					unacked = true
				}
			case a.State == StateResolved && g.sent[id] == StateFiring && !muted:
				send = append(send, a)
				resolved = append(resolved, id)
				changed = true
			case a.State == StateResolved:
				// never told, or muted: forget it quietly
				delete(g.alerts, id)
				delete(g.sent, id)
			}
		}
		g.flushed = true
		g.next = now.Add(g.route.interval)
		repeat := len(firing) > 0 && unacked && !now.Before(g.lastNotify.Add(g.route.repeat))
		if !changed && !repeat {
			if len(g.alerts) == 0 {
				delete(e.aggr, k)
			}
			continue
		}
		sortAlerts(send)
		ch := e.channels[g.route.channel]
		d := &delivery{group: g, ch: ch, firing: firing, resolved: resolved,
			msg: newMessage(ch.name, g.key, e.externalURL, maps.Clone(g.labels), send)}
		for _, a := range send {
			d.alerts = append(d.alerts, NotifiedAlert{ID: a.ID, Name: a.Name, Status: a.State, Severity: a.Severity})
		}
		g.sending = true
		out = append(out, d)
	}
	return out
}

// delivered records a delivery's result in its group; e.mu is held.
func (e *Engine) delivered(d *delivery, ok bool, now time.Time) {
	g := d.group
	g.sending = false
	if !ok {
		return // unchanged: the next flush tries again
	}
	g.lastNotify = now
	for _, id := range d.firing {
		g.sent[id] = StateFiring
	}
	for _, id := range d.resolved {
		if a := g.alerts[id]; a != nil && a.State == StateResolved {
			delete(g.alerts, id)
			delete(g.sent, id)
		}
	}
	if len(g.alerts) == 0 && e.aggr[g.id] == g {
		delete(e.aggr, g.id)
	}
}
