package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
)

// Recover adopts instances and the proxy's table after a server restart
// and finishes or rolls back the deploys that were in flight.
//
// In order: load the persisted states; read the proxy's table (its version
// becomes the floor of ours; a service/env the store does not know is
// adopted from it); list the runtimes; finish each op whose traffic had
// fully switched and roll back every other; restart missing instances of
// live releases; re-arm rollback-window timers; stop orphan instances;
// fail releases left pending or deploying; push the table.
// It returns the problems it could not fix (joined); the Manager is usable
// either way.
func (m *Manager) Recover(ctx context.Context, progress Progress) error {
	if err := m.loadStates(ctx); err != nil {
		return err
	}

	if t, err := m.opts.Router.Table(ctx); err != nil {
		m.log.Warn("recover: cannot read the proxy's table", "err", err)
	} else if t != nil {
		m.adoptTable(ctx, t)
	}

	live, err := m.listAll(ctx)
	if err != nil {
		return err
	}
	var errs []error
	m.returnSecrets(ctx, live)
	for _, k := range m.keys() {
		// Instances adopted from the proxy's table name no runtime yet.
		if err := m.save(ctx, k, func(st *envState) {
			for _, p := range st.Pools {
				for i, in := range p.Instances {
					if l, ok := live[in.ID]; ok && in.Runtime == "" {
						p.Instances[i].Runtime = l.runtime
					}
				}
			}
		}); err != nil {
			errs = append(errs, err)
		}
		st := m.snapshot(k)
		if op := st.Op; op != nil {
			// Whatever happens to the op, the releases that served before it
			// must be whole first: never leave traffic on dead instances.
			if err := m.restartMissing(ctx, k, live, progress, func(rel string) bool { return rel != op.Release }); err != nil {
				errs = append(errs, err)
			}
			if op.Switched {
				emit(progress, m.now, op.Release, "done", "recover: %s had all traffic; finishing its deploy", op.Release)
				window := time.Duration(0)
				if op.Strategy == strategyBlueGreen {
					if _, p, err := m.loadRelease(ctx, op.Release); err == nil {
						window = p.RollbackWindow
					}
				}
				if err := m.finish(ctx, k, window, progress); err != nil {
					errs = append(errs, err)
				}
				m.markLive(ctx, k, op.Release, op.Kind == "rollback")
			} else {
				emit(progress, m.now, op.Release, "traffic", "recover: %s was interrupted mid-deploy; rolling back", op.Release)
				if err := m.abort(ctx, k, progress); err != nil {
					errs = append(errs, err)
				}
				if op.Kind == "deploy" {
					m.setStatus(ctx, op.Release, StatusFailed, "interrupted: the server stopped mid-deploy; traffic went back to "+orNone(op.Previous))
				}
			}
			live, _ = m.listAll(ctx)
		}
		if err := m.restartMissing(ctx, k, live, progress, nil); err != nil {
			errs = append(errs, err)
		}
		m.scheduleWarm(k)
	}
	live, err = m.listAll(ctx)
	if err == nil {
		m.stopOrphans(ctx, live)
	}
	m.failStranded(ctx)
	if err := m.push(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// secretHolder is a runtime that keeps instances' secret values in
// memory only, so one adopting them from an earlier server does not know
// them (runtime.Process). SetSecrets hands an adopted instance its
// values back, for its later restarts; call it after List, before the
// instance needs a restart. Safe for concurrent use.
type secretHolder interface {
	SetSecrets(id string, secrets map[string]secret.Value) error
}

var _ secretHolder = (*runtime.Process)(nil)

// returnSecrets gives every adopted instance of a runtime that holds
// secrets in memory the values its release got (the versions it pinned,
// with the flags' client key), so an instance that crashes or is
// restarted after a server restart starts with them again.
func (m *Manager) returnSecrets(ctx context.Context, live liveSet) {
	for _, k := range m.keys() {
		st := m.snapshot(k)
		byRelease := map[string][]string{}
		for _, pool := range st.Pools {
			for _, in := range pool.Instances {
				byRelease[pool.Release] = append(byRelease[pool.Release], in.ID)
			}
		}
		if st.Warm != nil {
			for _, in := range st.Warm.Instances {
				byRelease[st.Warm.Release] = append(byRelease[st.Warm.Release], in.ID)
			}
		}
		for rel, ids := range byRelease {
			var holders []string
			for _, id := range ids {
				if l, ok := live[id]; ok {
					if _, ok := m.opts.Runtimes[l.runtime].(secretHolder); ok {
						holders = append(holders, id)
					}
				}
			}
			if len(holders) == 0 {
				continue
			}
			_, p, err := m.loadRelease(ctx, rel)
			if err != nil {
				m.log.Error("recover: the secrets of adopted instances", "release", rel, "err", err)
				continue
			}
			values, err := m.secretsFor(ctx, p)
			if err != nil {
				m.log.Error("recover: the secrets of adopted instances; they restart without them", "release", rel, "err", err)
				continue
			}
			if len(values) == 0 {
				continue
			}
			for _, id := range holders {
				if err := m.opts.Runtimes[live[id].runtime].(secretHolder).SetSecrets(id, values); err != nil {
					m.log.Error("recover: the secrets of an adopted instance", "instance", id, "err", err)
				}
			}
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "no release (none was live)"
	}
	return s
}

// adoptTable raises the version floor above the proxy's and adopts pools
// of service/envs the store has no state for.
func (m *Manager) adoptTable(ctx context.Context, t *proxy.Table) {
	m.mu.Lock()
	m.tableFloor = max(m.tableFloor, t.Version+1)
	adopted := map[key]*envState{}
	for _, r := range t.Routes {
		k := key{r.Service, r.Environment}
		if m.states[k] != nil || adopted[k] != nil || r.Service == TugService {
			continue
		}
		st := &envState{Service: k.service, Environment: k.env}
		for _, p := range r.Pools {
			ps := &poolState{Release: p.Release, Weight: p.Weight}
			for _, b := range p.Backends {
				ps.Instances = append(ps.Instances, instRef{ID: b.Instance, Addr: b.Addr})
			}
			st.Pools = append(st.Pools, ps)
			if st.Live == "" || p.Weight > st.pool(st.Live).Weight {
				st.Live = p.Release
			}
		}
		adopted[k] = st
	}
	m.mu.Unlock()
	for k, st := range adopted {
		m.save(ctx, k, func(s *envState) { *s = *st })
	}
}

// liveSet maps instance ID to what the runtimes report.
type liveSet map[string]liveInstance

type liveInstance struct {
	runtime.Instance
	runtime string
}

func (m *Manager) listAll(ctx context.Context) (liveSet, error) {
	out := liveSet{}
	names := make([]string, 0, len(m.opts.Runtimes))
	for n := range m.opts.Runtimes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		insts, err := m.opts.Runtimes[n].List(ctx)
		if err != nil {
			return nil, fmt.Errorf("deploy: list %s instances: %w", n, err)
		}
		for _, in := range insts {
			out[in.ID] = liveInstance{in, n}
		}
	}
	return out, nil
}

// loadStates reads every service/environment's state from the store.
func (m *Manager) loadStates(ctx context.Context) error {
	recs, err := m.opts.Store.DeployRecords(ctx, recordState)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, rec := range recs {
		var st envState
		if err := json.Unmarshal(rec.Data, &st); err != nil {
			return fmt.Errorf("deploy: recover %s/%s: bad state: %w", rec.Service, rec.Environment, err)
		}
		m.states[key{rec.Service, rec.Environment}] = &st
	}
	return nil
}

func (m *Manager) keys() []key {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := make([]key, 0, len(m.states))
	for k := range m.states {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b key) int { return strings.Compare(a.String(), b.String()) })
	return ks
}

// markLive records a release finished by Recover as live, and the one
// live before it superseded (or rolled back, when the op was a rollback).
func (m *Manager) markLive(ctx context.Context, k key, id string, rollback bool) {
	recs, _ := m.opts.Store.ListReleases(ctx, k.service, k.env, 0)
	for _, r := range recs {
		if r.ID != id && r.Status == StatusLive {
			if rollback {
				m.setStatus(ctx, r.ID, StatusRolledBack, "rolled back to "+id+" (finished after a server restart)")
			} else {
				m.setStatus(ctx, r.ID, StatusSuperseded, "")
			}
		}
	}
	m.setStatus(ctx, id, StatusLive, "")
}

// restartMissing starts a replacement for every instance of k's pools (of
// the releases only accepts, nil = all) the runtimes no longer have, gates
// it, and swaps it into the table. Missing instances of the warm set are
// just forgotten.
func (m *Manager) restartMissing(ctx context.Context, k key, live liveSet, progress Progress, only func(release string) bool) error {
	st := m.snapshot(k)
	var errs []error
	for _, pool := range st.Pools {
		if only != nil && !only(pool.Release) {
			continue
		}
		var missing []instRef
		for _, in := range pool.Instances {
			if _, ok := live[in.ID]; !ok {
				missing = append(missing, in)
			}
		}
		if len(missing) == 0 {
			continue
		}
		_, p, err := m.loadRelease(ctx, pool.Release)
		if err != nil {
			errs = append(errs, fmt.Errorf("restart instances of %s: %w", pool.Release, err))
			continue
		}
		secrets, err := m.secretsFor(ctx, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, gone := range missing {
			ref, err := m.startInstance(ctx, k, p, pool.Release, secrets)
			if err == nil {
				err = m.gate(ctx, p, ref, time.Now().Add(p.DeployTimeout), nil)
				if err != nil {
					m.stopRefs(ctx, []instRef{ref})
				}
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("restart %s: %w", gone.ID, err))
				continue
			}
			emit(progress, m.now, pool.Release, "start", "recover: %s replaces missing %s", ref.ID, gone.ID)
			if err := m.update(ctx, k, func(st *envState) {
				if pl := st.pool(pool.Release); pl != nil {
					for i, in := range pl.Instances {
						if in.ID == gone.ID {
							pl.Instances[i] = ref
						}
					}
				}
			}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := m.save(ctx, k, func(st *envState) {
		if st.Warm != nil {
			st.Warm.Instances = slices.DeleteFunc(st.Warm.Instances, func(in instRef) bool { _, ok := live[in.ID]; return !ok })
			if len(st.Warm.Instances) == 0 {
				st.Warm = nil
			}
		}
	}); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// stopOrphans stops instances the runtimes own that no state references.
func (m *Manager) stopOrphans(ctx context.Context, live liveSet) {
	ref := map[string]bool{}
	m.mu.Lock()
	for _, st := range m.states {
		for _, in := range st.refs() {
			ref[in.ID] = true
		}
	}
	m.mu.Unlock()
	for id, in := range live {
		if ref[id] {
			continue
		}
		m.log.Info("recover: stopping orphan instance", "instance", id, "release", in.Release)
		m.stopRefs(ctx, []instRef{{ID: id, Runtime: in.runtime}})
	}
}

// failStranded fails releases left pending or deploying by a server that
// is gone: no op of this process drives them. Releases awaiting approval
// are left for ResumeApprovals.
func (m *Manager) failStranded(ctx context.Context) {
	recs, err := m.opts.Store.ListReleases(ctx, "", "", 200)
	if err != nil {
		return
	}
	for _, r := range recs {
		switch r.Status {
		case StatusPending, StatusDeploying:
			m.mu.Lock()
			_, waiting := m.approvals[r.ID]
			busy := m.busy[key{r.Service, r.Environment}] != nil
			m.mu.Unlock()
			if !waiting && !busy {
				m.setStatus(ctx, r.ID, StatusFailed, "interrupted: the server stopped before this release went live")
			}
		}
	}
}
