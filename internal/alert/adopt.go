package alert

import "github.com/prometheus/prometheus/rules"

// Adopt carries an older engine's state into e when tug.yaml is reloaded,
// before e runs: unchanged rules keep their pending and firing alerts (so
// `for` does not restart), and notification groups whose route is still
// there keep what they told their channel (so nothing is notified twice).
// old must no longer be evaluating.
func (e *Engine) Adopt(old *Engine) {
	if old == nil || old == e {
		return
	}
	prev := map[string]*rules.Group{}
	for _, g := range old.groups {
		prev[rules.GroupKey(g.File(), g.Name())] = g
	}
	for _, g := range e.groups {
		if o := prev[rules.GroupKey(g.File(), g.Name())]; o != nil {
			g.CopyState(o)
		}
	}
	routes := map[string]*route{}
	for _, r := range e.routes {
		routes[r.id] = r
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, a := range old.alerts {
		e.alerts[id] = a.clone()
	}
	for id, g := range old.aggr {
		r := routes[g.route.id]
		if r == nil || r.key != g.route.key || r.channel != g.route.channel || e.channels[r.channel] == nil {
			continue
		}
		c := *g
		c.route, c.sending = r, false
		c.alerts = make(map[string]*Alert, len(g.alerts))
		for k, a := range g.alerts {
			c.alerts[k] = a.clone()
		}
		c.sent = make(map[string]string, len(g.sent))
		for k, v := range g.sent {
			c.sent[k] = v
		}
		e.aggr[id] = &c
	}
}
