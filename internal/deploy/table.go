package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/proxy"
)

// recordState is the store kind of an envState.
const recordState = "state"

// tableCounter is the store counter of routing table versions.
const tableCounter = "proxy_table_version"

// envState is the desired routing state of one service in one environment
// and the deploy operation in flight there, persisted as one record before
// every action so a crash at any point can be finished or undone.
type envState struct {
	Service     string       `json:"service"`
	Environment string       `json:"environment"`
	Live        string       `json:"live,omitempty"` // the release last made live
	Pools       []*poolState `json:"pools"`
	Warm        *warmState   `json:"warm,omitempty"`
	Op          *opState     `json:"op,omitempty"`
	// Counters gives each release's next instance number.
	Counters map[string]int `json:"counters,omitempty"`
	// Routes etc. come from the release that went live, for when the
	// service is gone from the config.
	Routes     []string `json:"routes,omitempty"`
	HealthPath string   `json:"health_path,omitempty"`
}

// poolState is a release in the table with its weight and instances.
type poolState struct {
	Release   string    `json:"release"`
	Weight    int       `json:"weight"`
	Instances []instRef `json:"instances"`
}

// warmState is the previous release kept running, out of the table, for
// a fast rollback until Until.
type warmState struct {
	Release   string    `json:"release"`
	Instances []instRef `json:"instances"`
	Until     time.Time `json:"until"`
}

// opState is a deploy or rollback in flight.
type opState struct {
	Kind     string `json:"kind"` // deploy | rollback
	Release  string `json:"release"`
	Previous string `json:"previous,omitempty"`
	Strategy string `json:"strategy"`
	Phase    string `json:"phase"`
	// New are the instances started (or about to be) for Release; Old
	// the instances that served when the op began.
	New []instRef `json:"new,omitempty"`
	Old []instRef `json:"old,omitempty"`
	// Switched: all traffic is on Release; only cleanup remains.
	Switched bool `json:"switched,omitempty"`
}

// instRef is one instance as the state knows it.
type instRef struct {
	ID      string `json:"id"`
	Addr    string `json:"addr,omitempty"`
	Runtime string `json:"runtime"`
}

func (s *envState) pool(rel string) *poolState {
	for _, p := range s.Pools {
		if p.Release == rel {
			return p
		}
	}
	return nil
}

// refs lists every instance the state references.
func (s *envState) refs() []instRef {
	var out []instRef
	for _, p := range s.Pools {
		out = append(out, p.Instances...)
	}
	if s.Warm != nil {
		out = append(out, s.Warm.Instances...)
	}
	if s.Op != nil {
		out = append(out, s.Op.New...)
		out = append(out, s.Op.Old...)
	}
	return out
}

// weighByInstances sets each pool's weight to its instance count, so every
// backend takes an equal share (rolling).
func (s *envState) weighByInstances() {
	for _, p := range s.Pools {
		p.Weight = len(p.Instances)
	}
}

// dropEmpty removes pools without instances.
func (s *envState) dropEmpty() {
	s.Pools = slices.DeleteFunc(s.Pools, func(p *poolState) bool { return len(p.Instances) == 0 })
}

func (s *envState) clone() *envState {
	data, _ := json.Marshal(s)
	var c envState
	json.Unmarshal(data, &c)
	return &c
}

// stateOf returns k's state, creating it; m.mu must be held.
func (m *Manager) stateOf(k key) *envState {
	st := m.states[k]
	if st == nil {
		st = &envState{Service: k.service, Environment: k.env}
		m.states[k] = st
	}
	return st
}

// snapshot returns a copy of k's state.
func (m *Manager) snapshot(k key) *envState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stateOf(k).clone()
}

// save applies fn to k's state and persists the result before returning;
// nothing is pushed to the proxy. If persisting fails, the change is undone.
func (m *Manager) save(ctx context.Context, k key, fn func(st *envState)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.stateOf(k)
	before := st.clone()
	fn(st)
	data, err := json.Marshal(st)
	if err == nil {
		err = m.opts.Store.PutDeployRecord(context.WithoutCancel(ctx), recordState, k.service, k.env, data)
	}
	if err != nil {
		m.states[k] = before
		return fmt.Errorf("deploy: persist state of %s: %w", k, err)
	}
	return nil
}

// update is save followed by a push of the whole table.
func (m *Manager) update(ctx context.Context, k key, fn func(st *envState)) error {
	if err := m.save(ctx, k, fn); err != nil {
		return err
	}
	return m.push(ctx)
}

// buildTable renders every state as proxy routes; m.mu must be held.
func (m *Manager) buildTable() *proxy.Table {
	keys := make([]key, 0, len(m.states))
	for k := range m.states {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int { return strings.Compare(a.String(), b.String()) })
	t := &proxy.Table{Routes: []*proxy.Route{}, Flags: m.flagSet()}
	seen := map[string]bool{}
	for _, k := range keys {
		st := m.states[k]
		var pools []*proxy.Pool
		for _, p := range st.Pools {
			if len(p.Instances) == 0 {
				continue
			}
			pp := &proxy.Pool{Release: p.Release, Weight: p.Weight}
			for _, in := range p.Instances {
				if in.Addr != "" {
					pp.Backends = append(pp.Backends, &proxy.Backend{Instance: in.ID, Addr: in.Addr})
				}
			}
			if len(pp.Backends) > 0 {
				pools = append(pools, pp)
			}
		}
		if len(pools) == 0 {
			continue
		}
		routes, health, sticky := st.Routes, st.HealthPath, (*stickyCfg)(nil)
		var hc *proxy.HealthCheck
		var edge *proxy.Edge
		if p, err := newPlan(m.cfg, k.service, k.env); err == nil {
			routes, health = p.Routes, p.HealthPath
			edge = edgeOf(m.cfg, k.service, k.env)
			if health != "" {
				hc = &proxy.HealthCheck{Path: health, Interval: p.HealthInterval, Timeout: p.HealthTimeout}
			}
			if p.Sticky != nil {
				sticky = &stickyCfg{cookie: p.Sticky.Cookie, ttl: p.Sticky.TTL.D()}
				if sticky.cookie == "" {
					sticky.cookie = "tug_sticky"
				}
			}
		} else if health != "" {
			hc = &proxy.HealthCheck{Path: health, Interval: defaultHealthInterval, Timeout: defaultHealthTimeout}
		}
		for _, r := range routes {
			host, prefix := splitRoute(r)
			id := strings.ToLower(host) + prefix
			if seen[id] {
				continue // claimed by an earlier service/env; config validation reports it
			}
			seen[id] = true
			rt := &proxy.Route{Host: host, PathPrefix: prefix, Service: k.service, Environment: k.env, Pools: clonePools(pools), Health: hc, Edge: edge}
			if sticky != nil {
				rt.StickyCookie, rt.StickyTTL = sticky.cookie, sticky.ttl
			}
			t.Routes = append(t.Routes, rt)
		}
	}
	if m.opts.ExtraRoutes != nil && m.cfg != nil {
		for _, tr := range m.opts.ExtraRoutes(m.cfg) {
			host, prefix := splitRoute(tr.Route)
			if id := strings.ToLower(host) + prefix; !seen[id] && tr.Addr != "" {
				seen[id] = true
				t.Routes = append(t.Routes, &proxy.Route{Host: host, PathPrefix: prefix, Service: TugService, Environment: tr.Name,
					Pools: []*proxy.Pool{{Release: tr.Name, Weight: 100, Backends: []*proxy.Backend{{Instance: TugService + "-" + tr.Name, Addr: tr.Addr}}}}})
			}
		}
	}
	return t
}

type stickyCfg struct {
	cookie string
	ttl    time.Duration
}

// splitRoute cuts "host/prefix" into host and "/prefix".
func splitRoute(r string) (host, prefix string) {
	r = strings.TrimSpace(r)
	r = strings.TrimPrefix(strings.TrimPrefix(r, "http://"), "https://")
	if i := strings.IndexByte(r, '/'); i >= 0 {
		return r[:i], r[i:]
	}
	return r, ""
}

func clonePools(ps []*proxy.Pool) []*proxy.Pool {
	out := make([]*proxy.Pool, len(ps))
	for i, p := range ps {
		c := *p
		c.Backends = slices.Clone(p.Backends)
		out[i] = &c
	}
	return out
}

// push sends the whole table to the proxy with a fresh, strictly greater,
// persisted version.
func (m *Manager) push(ctx context.Context) error {
	m.pushMu.Lock()
	defer m.pushMu.Unlock()
	m.mu.Lock()
	t := m.buildTable()
	floor := max(m.tableFloor, m.now().UnixNano())
	m.mu.Unlock()
	v, err := m.opts.Store.NextCounter(context.WithoutCancel(ctx), tableCounter, floor)
	if err != nil {
		return fmt.Errorf("deploy: table version: %w", err)
	}
	t.Version = v
	if err := m.opts.Router.Apply(ctx, t); err != nil {
		return fmt.Errorf("deploy: push routing table v%d to the proxy: %w", v, err)
	}
	m.log.Debug("routing table pushed", "version", v, "routes", len(t.Routes))
	return nil
}
