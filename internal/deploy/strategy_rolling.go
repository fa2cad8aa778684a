package deploy

import "context"

// rolling replaces instances one at a time with a surge of one: start a
// new instance, gate it on health, add it to the table, then take one old
// instance out, drain and stop it. Healthy capacity never drops below the
// replica count.
func (r *run) rolling(ctx context.Context) error {
	m := r.m
	for i := 0; i < r.p.Replicas; i++ {
		ref, err := m.startInstance(ctx, r.k, r.p, r.rel.ID, r.secrets)
		if err != nil {
			return err
		}
		r.emit("start", "started %s at %s", ref.ID, ref.Addr)
		if err := m.gate(ctx, r.p, ref, r.deadline, r.note); err != nil {
			return err
		}
		r.emit("health", "%s is healthy", ref.ID)
		if err := m.update(ctx, r.k, func(st *envState) {
			pool := st.pool(r.rel.ID)
			if pool == nil {
				pool = &poolState{Release: r.rel.ID}
				st.Pools = append(st.Pools, pool)
			}
			pool.Instances = append(pool.Instances, ref)
			st.weighByInstances()
			st.Op.Phase = "traffic"
			st.Op.Switched = len(st.Pools) == 1
		}); err != nil {
			return err
		}
		if err := r.m.awaitRouted(ctx, []instRef{ref}, r.deadline); err != nil {
			return err
		}
		r.emit("traffic", "%s takes traffic", ref.ID)
		if err := r.retireOne(ctx); err != nil {
			return err
		}
	}
	// The old release had more instances than the new one needs.
	for r.hasOld() {
		if err := r.retireOne(ctx); err != nil {
			return err
		}
	}
	return nil
}

// hasOld reports whether another release than the new one is in the table.
func (r *run) hasOld() bool {
	st := r.m.snapshot(r.k)
	for _, p := range st.Pools {
		if p.Release != r.rel.ID && len(p.Instances) > 0 {
			return true
		}
	}
	return false
}

// retireOne takes one old instance out of the table, drains and stops it.
func (r *run) retireOne(ctx context.Context) error {
	var victim *instRef
	err := r.m.update(ctx, r.k, func(st *envState) {
		for _, p := range st.Pools {
			if p.Release != r.rel.ID && len(p.Instances) > 0 {
				v := p.Instances[0]
				victim = &v
				p.Instances = p.Instances[1:]
				break
			}
		}
		st.dropEmpty()
		st.weighByInstances()
		st.Op.Switched = len(st.Pools) == 1 && st.Pools[0].Release == r.rel.ID
	})
	if err != nil || victim == nil {
		return err
	}
	r.emit("drain", "draining %s", victim.ID)
	r.m.drainStop(ctx, r.p.DrainTimeout, []instRef{*victim})
	return nil
}
