package deploy

import (
	"context"
	"time"
)

// canary starts and gates the new set, then walks the steps: at each the
// canary takes the step's weight, the step's pause passes, and the
// canary's own traffic is analysed. A failed analysis returns an error
// (the caller sends all traffic back to the stable release). After the
// last step the canary takes all traffic.
func (r *run) canary(ctx context.Context) error {
	refs, err := r.startAll(ctx)
	if err != nil {
		return err
	}
	if err := r.smoke(ctx, refs); err != nil {
		return err
	}
	if !r.hasOld() {
		r.emit("traffic", "no stable release to compare with: switching directly")
		return r.switchAll(ctx, refs)
	}
	for i, step := range r.p.canarySteps() {
		err := r.m.update(ctx, r.k, func(st *envState) {
			canary := st.pool(r.rel.ID)
			if canary == nil {
				canary = &poolState{Release: r.rel.ID, Instances: refs}
				st.Pools = append(st.Pools, canary)
			}
			first := true
			for _, p := range st.Pools {
				switch {
				case p == canary:
					p.Weight = step.Weight
				case first:
					p.Weight, first = 100-step.Weight, false
				default:
					p.Weight = 0
				}
			}
			st.Op.Phase = "traffic"
		})
		if err != nil {
			return err
		}
		r.emit("traffic", "step %d: canary %s takes %d%%", i+1, r.rel.ID, step.Weight)
		if err := r.analyse(ctx, step.Pause.D()); err != nil {
			return err
		}
	}
	return r.switchAll(ctx, refs)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
