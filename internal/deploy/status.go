package deploy

import (
	"context"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/runtime"
)

// Status returns the live state of every service and environment.
func (m *Manager) Status(ctx context.Context) ([]ServiceStatus, error) {
	live, err := m.listAll(ctx)
	if err != nil {
		return nil, err
	}
	byKey := map[key][]runtime.Instance{}
	for _, in := range live {
		k := key{in.Service, in.Environment}
		byKey[k] = append(byKey[k], in.Instance)
	}
	m.mu.Lock()
	keys := map[key]bool{}
	for k := range m.states {
		keys[k] = true
	}
	for k := range m.busy {
		keys[k] = true
	}
	for k := range byKey {
		keys[k] = true
	}
	var out []ServiceStatus
	for k := range keys {
		s := ServiceStatus{Service: k.service, Environment: k.env, Routes: []string{}, Live: []LivePool{}, Instances: byKey[k]}
		if st := m.states[k]; st != nil {
			total := 0
			for _, p := range st.Pools {
				total += p.Weight
			}
			for _, p := range st.Pools {
				w := p.Weight
				if total > 0 {
					w = p.Weight * 100 / total
				}
				s.Live = append(s.Live, LivePool{Release: p.Release, Weight: w})
			}
			s.Routes = st.Routes
		}
		if p, err := newPlan(m.cfg, k.service, k.env); err == nil {
			s.Routes = p.Routes
		}
		if s.Routes == nil {
			s.Routes = []string{}
		}
		if r := m.busy[k]; r != nil {
			c := *r
			s.Deploying = &c
		}
		if s.Instances == nil {
			s.Instances = []runtime.Instance{}
		}
		slices.SortFunc(s.Instances, func(a, b runtime.Instance) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, s)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b ServiceStatus) int {
		return strings.Compare(a.Service+"/"+a.Environment, b.Service+"/"+b.Environment)
	})
	return out, nil
}

// stopAll takes every service out of the table, then drains and stops
// every instance the states reference.
func (m *Manager) stopAll(ctx context.Context) error {
	var refs []instRef
	for _, k := range m.keys() {
		err := m.save(ctx, k, func(st *envState) {
			refs = append(refs, st.refs()...)
			st.Pools, st.Warm, st.Op = nil, nil, nil
		})
		if err != nil {
			return err
		}
	}
	// Stop the instances even when the proxy cannot be told: the caller
	// asked for everything to stop.
	err := m.push(ctx)
	m.drainStop(ctx, defaultDrainTimeout, dedupe(refs))
	return err
}
