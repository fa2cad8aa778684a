package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Rollback goes back to the previous good release of service in env.
func (m *Manager) Rollback(ctx context.Context, service, env, who string, progress Progress) (*Release, error) {
	cfg := m.config()
	if cfg != nil {
		if _, err := newPlan(cfg, service, env); err != nil {
			return nil, err
		}
		env, _ = resolveEnv(cfg, env)
	}
	if env == "" {
		env = "default"
	}
	k := key{service, env}
	if err := m.acquire(ctx, k, nil); err != nil {
		return nil, err
	}
	defer m.release(k)
	st := m.snapshot(k)
	current := st.Live
	target, err := m.previousGood(ctx, k, current)
	if err != nil {
		return nil, err
	}
	rel, p, err := m.loadRelease(ctx, target)
	if err != nil {
		return nil, err
	}
	m.setBusy(k, rel)
	reason := fmt.Sprintf("rolled back to %s by %s", target, whoOr(who))
	if st.Warm != nil && st.Warm.Release == target && time.Now().Before(st.Warm.Until) {
		// The previous set is still running: a route switch.
		emit(progress, m.now, target, "traffic", "switching traffic back to warm release %s", target)
		if err := m.switchToWarm(ctx, k, progress); err != nil {
			return nil, err
		}
	} else {
		emit(progress, m.now, target, "start", "redeploying %s (%s)", target, m.whyNotWarm(ctx, current, st.Warm))
		if _, err := os.Stat(filepath.Join(p.ReleaseDir, releaseMarker)); p.Runtime == "process" && err != nil {
			// The release copy is gone: export and build it again.
			if err := m.prepare(ctx, rel, p, fileOf(cfg), progress); err != nil {
				return nil, err
			}
			if err := m.saveRelease(ctx, rel, p); err != nil {
				return nil, err
			}
		}
		r := &run{m: m, k: k, rel: rel, p: p, progress: progress, deadline: time.Now().Add(p.DeployTimeout)}
		rp := *p
		rp.Strategy = strategyRolling // a redeploy replaces in place, never a canary
		r.p = &rp
		if r.secrets, err = m.secretsFor(ctx, p); err != nil {
			return nil, err
		}
		if err := m.execute(ctx, r, "rollback"); err != nil {
			return nil, fmt.Errorf("%w: rollback to %s: %w", ErrFailed, target, err)
		}
	}
	if current != "" {
		if _, err := m.setStatus(ctx, current, StatusRolledBack, reason); err != nil {
			return nil, err
		}
	}
	out, err := m.setStatus(ctx, target, StatusLive, "")
	if err != nil {
		return nil, err
	}
	emit(progress, m.now, target, "done", "%s is live again", target)
	return out, nil
}

// whyNotWarm says why a rollback to the release before current must start
// it again rather than switch back to a warm copy: only blue-green keeps
// the previous release running, for its rollback window.
func (m *Manager) whyNotWarm(ctx context.Context, current string, warm *warmState) string {
	if current != "" {
		if rel, _, err := m.loadRelease(ctx, current); err == nil && rel.Strategy != strategyBlueGreen {
			return fmt.Sprintf("a %s deploy keeps no warm copy of the release it replaced; only blue-green does, for its rollback_window", rel.Strategy)
		}
	}
	if warm != nil && !warm.Until.IsZero() {
		return fmt.Sprintf("its rollback window ended %s ago", time.Since(warm.Until).Round(time.Second))
	}
	return "its rollback window is over"
}

func whoOr(who string) string {
	if who == "" {
		return "someone"
	}
	return who
}

func fileOf(c *config.Config) string {
	if c == nil {
		return ""
	}
	return c.File
}

// previousGood is the newest release of k before current that was live.
func (m *Manager) previousGood(ctx context.Context, k key, current string) (string, error) {
	recs, err := m.opts.Store.ListReleases(ctx, k.service, k.env, 0)
	if err != nil {
		return "", err
	}
	seenCurrent := current == ""
	for _, r := range recs {
		if r.ID == current {
			seenCurrent = true
			continue
		}
		if seenCurrent && (r.Status == StatusSuperseded || (current == "" && r.Status == StatusLive)) {
			return r.ID, nil
		}
	}
	if current == "" {
		return "", fmt.Errorf("%w: %s has no live release", ErrNoPrevious, k)
	}
	return "", fmt.Errorf("%w: %s has nothing live before %s", ErrNoPrevious, k, current)
}

// switchToWarm moves all traffic to the warm set in one push, then drains
// and stops the release that was live.
func (m *Manager) switchToWarm(ctx context.Context, k key, progress Progress) error {
	var stop []instRef
	err := m.update(ctx, k, func(st *envState) {
		w := st.Warm
		for _, p := range st.Pools {
			stop = append(stop, p.Instances...)
		}
		st.Pools = []*poolState{{Release: w.Release, Weight: 100, Instances: w.Instances}}
		st.Live = w.Release
		st.Warm = nil
	})
	if err != nil {
		return err
	}
	m.mu.Lock()
	if t := m.timers[k]; t != nil {
		t.Stop()
		delete(m.timers, k)
	}
	m.mu.Unlock()
	m.drainStop(ctx, m.drainTimeoutOf(k), stop)
	return nil
}
