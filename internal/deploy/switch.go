package deploy

import (
	"context"
	"fmt"
	"time"
)

// finish completes an op whose traffic is all on the new release: the
// table carries only it, the old instances are drained and stopped, or,
// with a rollback window, kept warm until the window ends.
func (m *Manager) finish(ctx context.Context, k key, window time.Duration, progress Progress) error {
	var (
		old, stale []instRef
		rel        string
		warm       bool
	)
	err := m.update(ctx, k, func(st *envState) {
		op := st.Op
		if op == nil {
			return
		}
		rel = op.Release
		pool := st.pool(op.Release)
		for _, p := range st.Pools {
			if p != pool {
				old = append(old, p.Instances...)
			}
		}
		old = append(old, op.Old...)
		if pool != nil {
			pool.Weight = 100
			st.Pools = []*poolState{pool}
			old = without(old, pool.Instances)
			old = dedupe(old)
		}
		if st.Warm != nil {
			stale = st.Warm.Instances
			st.Warm = nil
		}
		if window > 0 && len(old) > 0 && op.Previous != "" {
			st.Warm = &warmState{Release: op.Previous, Instances: old, Until: time.Now().Add(window)}
			old, warm = nil, true
		}
		st.Live = op.Release
		st.Op = nil
		if p, err := newPlan(m.cfg, k.service, k.env); err == nil {
			st.Routes, st.HealthPath = p.Routes, p.HealthPath
		}
	})
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		m.drainStop(ctx, defaultDrainTimeout, stale)
	}
	if warm {
		emit(progress, m.now, rel, "drain", "previous release kept warm for %s for a fast rollback", window)
		m.scheduleWarm(k)
	} else if len(old) > 0 {
		emit(progress, m.now, rel, "drain", "draining %d old instance(s)", len(old))
		m.drainStop(ctx, m.drainTimeoutOf(k), old)
	}
	return nil
}

// abort undoes an op that did not fully switch: the previous release is
// refilled to its replica count (rolling may have retired some of it),
// takes all traffic again, and every instance of the new release is
// drained and stopped. With no previous release the new one leaves the
// table. It never pushes a table routing to nothing while old instances
// exist.
func (m *Manager) abort(ctx context.Context, k key, progress Progress) error {
	ctx = context.WithoutCancel(ctx)
	st := m.snapshot(k)
	op := st.Op
	if op == nil {
		return nil
	}
	var firstErr error
	if op.Previous != "" && st.pool(op.Previous) == nil && len(op.Old) > 0 {
		// Traffic had already left the previous release (a switch that
		// failed after the push): take back whatever of it still runs.
		if live, err := m.listAll(ctx); err == nil {
			var alive []instRef
			for _, in := range op.Old {
				if l, ok := live[in.ID]; ok && l.Release == op.Previous {
					alive = append(alive, in)
				}
			}
			if len(alive) > 0 {
				if err := m.save(ctx, k, func(st *envState) {
					st.Pools = append(st.Pools, &poolState{Release: op.Previous, Weight: len(alive), Instances: alive})
				}); err != nil {
					firstErr = err
				}
			}
		}
	}
	if op.Previous != "" && m.snapshot(k).pool(op.Previous) != nil {
		if err := m.refill(ctx, k, op.Previous, op.Release, progress); err != nil {
			firstErr = err
			m.log.Warn("rollback: could not refill the previous release", "release", op.Previous, "err", err)
		}
	}
	var stop []instRef
	err := m.update(ctx, k, func(st *envState) {
		var keep []*poolState
		for _, p := range st.Pools {
			if p.Release == op.Release {
				stop = append(stop, p.Instances...)
			} else if len(p.Instances) > 0 {
				keep = append(keep, p)
			}
		}
		st.Pools = keep
		if len(keep) == 1 {
			keep[0].Weight = 100
		} else {
			st.weighByInstances()
		}
		stop = dedupe(append(stop, st.Op.New...))
		st.Op = nil
	})
	if err != nil {
		return err
	}
	emit(progress, m.now, op.Release, "drain", "stopping %d instance(s) of %s", len(stop), op.Release)
	m.drainStop(ctx, m.drainTimeoutOf(k), stop)
	return firstErr
}

// refill starts instances of release prev until its pool has its replica
// count again, one at a time, each gated on health, added to the pool,
// and one instance of the aborted release taken out.
func (m *Manager) refill(ctx context.Context, k key, prev, aborted string, progress Progress) error {
	_, p, err := m.loadRelease(ctx, prev)
	if err != nil {
		return err
	}
	secrets, err := m.secretsFor(ctx, p)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(p.DeployTimeout)
	for {
		st := m.snapshot(k)
		pool := st.pool(prev)
		if pool == nil || len(pool.Instances) >= p.Replicas {
			return nil
		}
		ref, err := m.startInstance(ctx, k, p, prev, secrets)
		if err != nil {
			return err
		}
		note := func(format string, args ...any) { emit(progress, m.now, prev, "health", format, args...) }
		if err := m.gate(ctx, p, ref, deadline, note); err != nil {
			m.stopRefs(ctx, []instRef{ref})
			return fmt.Errorf("refill %s: %w", prev, err)
		}
		var out *instRef
		if err := m.update(ctx, k, func(st *envState) {
			if pl := st.pool(prev); pl != nil {
				pl.Instances = append(pl.Instances, ref)
			}
			if ab := st.pool(aborted); ab != nil && len(ab.Instances) > 0 {
				v := ab.Instances[0]
				out = &v
				ab.Instances = ab.Instances[1:]
			}
			st.dropEmpty()
			st.weighByInstances()
		}); err != nil {
			return err
		}
		emit(progress, m.now, prev, "traffic", "%s of %s is back in service", ref.ID, prev)
		if err := m.awaitRouted(ctx, []instRef{ref}, deadline); err != nil {
			m.log.Warn("rollback: proxy does not see the refilled instance healthy", "instance", ref.ID, "err", err)
		}
		if out != nil {
			m.drainStop(ctx, p.DrainTimeout, []instRef{*out})
		}
	}
}

// drainTimeoutOf is the drain timeout of k's service in the current
// config, or the default.
func (m *Manager) drainTimeoutOf(k key) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p, err := newPlan(m.cfg, k.service, k.env); err == nil {
		return p.DrainTimeout
	}
	return defaultDrainTimeout
}

func dedupe(refs []instRef) []instRef {
	seen := map[string]bool{}
	var out []instRef
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			out = append(out, r)
		}
	}
	return out
}
