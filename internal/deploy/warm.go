package deploy

import (
	"context"
	"time"
)

// scheduleWarm arms the timer that drains and stops k's warm set when its
// rollback window ends. The deadline is persisted in the state, so Recover
// re-arms it after a restart.
func (m *Manager) scheduleWarm(k key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[k]
	if t := m.timers[k]; t != nil {
		t.Stop()
		delete(m.timers, k)
	}
	if st == nil || st.Warm == nil || m.bg.Err() != nil {
		return
	}
	release, until := st.Warm.Release, st.Warm.Until
	m.timers[k] = time.AfterFunc(max(time.Until(until), 0), func() { m.expireWarm(k, release, until) })
}

// expireWarm stops k's warm set if it is still the one the timer was
// armed for. A deploy or rollback in progress defers it briefly.
func (m *Manager) expireWarm(k key, release string, until time.Time) {
	m.mu.Lock()
	if m.bg.Err() != nil {
		m.mu.Unlock()
		return
	}
	m.wg.Add(1) // under mu: Shutdown cancels under mu before it waits
	m.mu.Unlock()
	defer m.wg.Done()
	if !m.acquireChore(k) {
		m.mu.Lock()
		if m.bg.Err() == nil {
			m.timers[k] = time.AfterFunc(time.Second, func() { m.expireWarm(k, release, until) })
		}
		m.mu.Unlock()
		return
	}
	defer m.release(k)
	var stop []instRef
	ctx := m.bg
	err := m.save(ctx, k, func(st *envState) {
		if st.Warm != nil && st.Warm.Release == release && st.Warm.Until.Equal(until) {
			stop = st.Warm.Instances
			st.Warm = nil
		}
	})
	if err != nil {
		m.log.Error("rollback window: persist", "service", k.service, "environment", k.env, "err", err)
		return
	}
	if len(stop) > 0 {
		m.log.Info("rollback window over: stopping the previous release", "service", k.service, "environment", k.env, "release", release)
		m.drainStop(context.WithoutCancel(ctx), m.drainTimeoutOf(k), stop)
	}
}
