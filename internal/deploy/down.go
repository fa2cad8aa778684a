package deploy

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Down takes the services of env (every environment when env is "") out
// of the routing table, drains and stops their instances, and forgets
// their deploy state, so no server starts them again; their release
// history stays. Instances of env the runtimes run without any state
// naming them (left by a crash) are stopped too. A deploy in progress in
// env is ErrBusy, and nothing is stopped. It returns the IDs of the
// instances stopped.
//
// A running server calls it as is; without one (tug down), call Load
// first. The table push may fail when the proxy is gone; the instances
// are stopped all the same and the error says so.
func (m *Manager) Down(ctx context.Context, env string) ([]string, error) {
	// Every service/env with state, and any with a deploy running (a
	// first deploy has no state yet), is held while it goes down.
	m.mu.Lock()
	var keys []key
	for k := range m.busy {
		if env == "" || k.env == env {
			keys = append(keys, k)
		}
	}
	m.mu.Unlock()
	for _, k := range m.keys() {
		if (env == "" || k.env == env) && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var held []key
	defer func() {
		for _, k := range held {
			m.release(k)
		}
	}()
	for _, k := range keys {
		if err := m.acquire(ctx, k, nil); err != nil {
			return nil, fmt.Errorf("%w; wait for it, then run tug down again", err)
		}
		held = append(held, k)
	}
	var refs []instRef
	for _, k := range keys {
		err := m.save(ctx, k, func(st *envState) {
			refs = append(refs, st.refs()...)
			st.Pools, st.Warm, st.Op = nil, nil, nil
		})
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		if t := m.timers[k]; t != nil {
			t.Stop()
			delete(m.timers, k)
		}
		m.mu.Unlock()
	}
	pushErr := m.push(ctx)
	live, err := m.listAll(ctx)
	if err != nil {
		return nil, err
	}
	for id, in := range live {
		if (env == "" || in.Environment == env) && !slices.ContainsFunc(refs, func(r instRef) bool { return r.ID == id }) {
			refs = append(refs, instRef{ID: id, Runtime: in.runtime})
		}
	}
	refs = dedupe(refs)
	if pushErr == nil {
		m.drainStop(ctx, m.drainTimeoutFor(keys), refs)
	} else {
		m.stopRefs(ctx, refs) // no proxy to drain through
	}
	var ids []string
	for _, r := range refs {
		if _, ok := live[r.ID]; ok {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	if pushErr != nil {
		return ids, fmt.Errorf("stopped %d instance(s), but the proxy was not told: %w", len(ids), pushErr)
	}
	return ids, nil
}

// Load reads the deploy state the store holds, for a Manager that will
// not Recover (tug down without a server).
func (m *Manager) Load(ctx context.Context) error { return m.loadStates(ctx) }

// drainTimeoutFor is the longest drain timeout of keys.
func (m *Manager) drainTimeoutFor(keys []key) time.Duration {
	d := defaultDrainTimeout
	for _, k := range keys {
		d = max(d, m.drainTimeoutOf(k))
	}
	return d
}
