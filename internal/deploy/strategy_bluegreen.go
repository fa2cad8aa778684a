package deploy

import (
	"context"
	"fmt"
)

// blueGreen starts and gates the whole new set, smoke-checks it, then
// switches all traffic in one table push. The old set is kept warm for
// the rollback window by finish.
func (r *run) blueGreen(ctx context.Context) error {
	refs, err := r.startAll(ctx)
	if err != nil {
		return err
	}
	if err := r.smoke(ctx, refs); err != nil {
		return err
	}
	return r.switchAll(ctx, refs)
}

// startAll starts the replica count of new instances and gates each.
func (r *run) startAll(ctx context.Context) ([]instRef, error) {
	var refs []instRef
	for i := 0; i < r.p.Replicas; i++ {
		ref, err := r.m.startInstance(ctx, r.k, r.p, r.rel.ID, r.secrets)
		if err != nil {
			return nil, err
		}
		r.emit("start", "started %s at %s", ref.ID, ref.Addr)
		refs = append(refs, ref)
	}
	for _, ref := range refs {
		if err := r.m.gate(ctx, r.p, ref, r.deadline, r.note); err != nil {
			return nil, err
		}
		r.emit("health", "%s is healthy", ref.ID)
	}
	return refs, nil
}

// switchAll moves all traffic to refs in one push. When other releases
// serve, refs first join the table at weight 0 until the proxy's own
// health check passes them, so the switch never lands on backends the
// proxy has not yet seen healthy.
func (r *run) switchAll(ctx context.Context, refs []instRef) error {
	if r.hasOld() {
		err := r.m.update(ctx, r.k, func(st *envState) {
			pool := st.pool(r.rel.ID)
			if pool == nil {
				st.Pools = append(st.Pools, &poolState{Release: r.rel.ID, Weight: 0, Instances: refs})
			}
			st.Op.Phase = "staged"
		})
		if err != nil {
			return err
		}
		if err := r.m.awaitRouted(ctx, refs, r.deadline); err != nil {
			return err
		}
	}
	err := r.m.update(ctx, r.k, func(st *envState) {
		st.Pools = []*poolState{{Release: r.rel.ID, Weight: 100, Instances: refs}}
		st.Op.Phase, st.Op.Switched = "switched", true
	})
	if err != nil {
		return fmt.Errorf("switch traffic: %w", err)
	}
	if err := r.m.awaitRouted(ctx, refs, r.deadline); err != nil {
		return err
	}
	r.emit("traffic", "all traffic on %s", r.rel.ID)
	return nil
}
