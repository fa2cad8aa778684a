package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// ErrNothingLive: scale or restart of a service that has no live release
// in the environment.
var ErrNothingLive = errors.New("no live release")

// ErrNoInstance: restart of an instance the live release does not have.
var ErrNoInstance = errors.New("no such instance")

// Scale sets how many instances the live release of service runs in env,
// until its next deploy (which starts the configured replicas): new
// instances are started and gated on health before they take traffic,
// instances beyond n leave the table and are drained before they stop.
// It returns the instance count before and after. Like a deploy, it
// fails with ErrBusy while another operation holds the service.
func (m *Manager) Scale(ctx context.Context, service, env string, n int, who string, progress Progress) (before, after int, err error) {
	if n < 1 {
		return 0, 0, fmt.Errorf("%w: scale %s to %d: want at least 1 instance (tug down stops a service)", ErrFailed, service, n)
	}
	k, rel, p, err := m.holdLive(ctx, service, env)
	if err != nil {
		return 0, 0, err
	}
	defer m.release(k)
	before = len(m.snapshot(k).pool(rel.ID).Instances)
	secrets, err := m.secretsFor(ctx, p)
	if err != nil {
		return before, before, err
	}
	deadline := time.Now().Add(p.DeployTimeout)
	for have := before; have < n; have++ {
		if _, err := m.addInstance(ctx, k, rel.ID, p, secrets, deadline, progress); err != nil {
			return before, have, err
		}
	}
	for have := before; have > n; have-- {
		var victim instRef
		if err := m.update(ctx, k, func(st *envState) {
			pool := st.pool(rel.ID)
			victim = pool.Instances[len(pool.Instances)-1]
			pool.Instances = pool.Instances[:len(pool.Instances)-1]
			reweigh(st)
		}); err != nil {
			return before, have, err
		}
		emit(progress, m.now, rel.ID, "drain", "draining %s", victim.ID)
		m.drainStop(ctx, p.DrainTimeout, []instRef{victim})
	}
	m.log.Info("service scaled", "service", service, "environment", k.env, "release", rel.ID, "from", before, "to", n, "who", whoOr(who))
	emit(progress, m.now, rel.ID, "done", "%s runs %d instance(s) of %s (was %d)", service, n, rel.ID, before)
	return before, n, nil
}

// Restart replaces one instance of the live release of service in env
// (instance "" is its first) with a fresh one: the new instance passes
// its health check and takes traffic before the old one is drained and
// stopped, so capacity never drops. It returns the new instance's ID.
func (m *Manager) Restart(ctx context.Context, service, env, instance, who string, progress Progress) (string, error) {
	k, rel, p, err := m.holdLive(ctx, service, env)
	if err != nil {
		return "", err
	}
	defer m.release(k)
	pool := m.snapshot(k).pool(rel.ID)
	i := 0
	if instance != "" {
		i = slices.IndexFunc(pool.Instances, func(r instRef) bool { return r.ID == instance })
		if i < 0 {
			return "", fmt.Errorf("%w: %s is not an instance of %s/%s's live release %s", ErrNoInstance, instance, service, k.env, rel.ID)
		}
	}
	old := pool.Instances[i]
	secrets, err := m.secretsFor(ctx, p)
	if err != nil {
		return "", err
	}
	ref, err := m.addInstance(ctx, k, rel.ID, p, secrets, time.Now().Add(p.DeployTimeout), progress)
	if err != nil {
		return "", err
	}
	if err := m.update(ctx, k, func(st *envState) {
		pl := st.pool(rel.ID)
		pl.Instances = without(pl.Instances, []instRef{old})
		reweigh(st)
	}); err != nil {
		return ref.ID, err
	}
	emit(progress, m.now, rel.ID, "drain", "draining %s", old.ID)
	m.drainStop(ctx, p.DrainTimeout, []instRef{old})
	m.log.Info("instance restarted", "service", service, "environment", k.env, "old", old.ID, "new", ref.ID, "who", whoOr(who))
	emit(progress, m.now, rel.ID, "done", "%s replaced by %s", old.ID, ref.ID)
	return ref.ID, nil
}

// holdLive resolves service and env, takes the pair (ErrBusy while a
// deploy holds it) and loads its live release; the caller releases k.
func (m *Manager) holdLive(ctx context.Context, service, env string) (key, *Release, *plan, error) {
	cfg := m.config()
	if _, err := newPlan(cfg, service, env); err != nil {
		return key{}, nil, nil, err
	}
	env, _ = resolveEnv(cfg, env)
	k := key{service, env}
	if err := m.acquire(ctx, k, nil); err != nil {
		return k, nil, nil, err
	}
	st := m.snapshot(k)
	if st.Live == "" || st.pool(st.Live) == nil || len(st.pool(st.Live).Instances) == 0 {
		m.release(k)
		return k, nil, nil, fmt.Errorf("%w: %s has no instances taking traffic", ErrNothingLive, k)
	}
	rel, p, err := m.loadRelease(ctx, st.Live)
	if err != nil {
		m.release(k)
		return k, nil, nil, err
	}
	return k, rel, p, nil
}

// addInstance starts one more instance of release rel, gates it on health
// and puts it in the table; an instance that fails its gate is stopped.
func (m *Manager) addInstance(ctx context.Context, k key, rel string, p *plan, secrets map[string]secret.Value, deadline time.Time, progress Progress) (instRef, error) {
	note := func(format string, args ...any) { emit(progress, m.now, rel, "health", format, args...) }
	ref, err := m.startInstance(ctx, k, p, rel, secrets)
	if err != nil {
		m.stopRefs(context.WithoutCancel(ctx), []instRef{ref})
		return ref, err
	}
	emit(progress, m.now, rel, "start", "started %s at %s", ref.ID, ref.Addr)
	if err := m.gate(ctx, p, ref, deadline, note); err != nil {
		m.stopRefs(context.WithoutCancel(ctx), []instRef{ref})
		return ref, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	if err := m.update(ctx, k, func(st *envState) {
		pool := st.pool(rel)
		pool.Instances = append(pool.Instances, ref)
		reweigh(st)
	}); err != nil {
		m.stopRefs(context.WithoutCancel(ctx), []instRef{ref})
		return ref, err
	}
	if err := m.awaitRouted(ctx, []instRef{ref}, deadline); err != nil {
		return ref, err
	}
	emit(progress, m.now, rel, "traffic", "%s takes traffic", ref.ID)
	return ref, nil
}

// reweigh keeps one pool at 100% and several in proportion to their
// instances.
func reweigh(st *envState) {
	if len(st.Pools) == 1 {
		st.Pools[0].Weight = 100
		return
	}
	st.weighByInstances()
}
