package runtime

import (
	"log/slog"
	"time"
)

// RestartPolicy says how long a runtime waits before restarting a crashed
// instance and when it calls the crashes a crash loop. The zero value
// means the contract's numbers; tests shrink them.
type RestartPolicy struct {
	// BackoffMin is the first delay (1s); each crash doubles it.
	BackoffMin time.Duration
	// BackoffMax caps the delay (1m); a crash loop always waits this long.
	BackoffMax time.Duration
	// ResetAfter is the uptime (1m) after which the delay starts over at
	// BackoffMin and a crash loop is forgiven.
	ResetAfter time.Duration
	// CrashWindow (5m) and CrashLimit (5): CrashLimit crashes within
	// CrashWindow mark the instance CrashLoop.
	CrashWindow time.Duration
	CrashLimit  int
}

// withDefaults fills the zero fields with the contract's numbers.
func (p RestartPolicy) withDefaults() RestartPolicy {
	if p.BackoffMin <= 0 {
		p.BackoffMin = time.Second
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = time.Minute
	}
	if p.BackoffMax < p.BackoffMin {
		p.BackoffMax = p.BackoffMin
	}
	if p.ResetAfter <= 0 {
		p.ResetAfter = time.Minute
	}
	if p.CrashWindow <= 0 {
		p.CrashWindow = 5 * time.Minute
	}
	if p.CrashLimit <= 0 {
		p.CrashLimit = 5
	}
	return p
}

// crashTracker applies a RestartPolicy to one instance's crashes. It is
// not safe for concurrent use; its owner's lock guards it.
type crashTracker struct {
	policy  RestartPolicy
	next    time.Duration // delay for the next crash; 0 means BackoffMin
	crashes []time.Time   // within the window
	loop    bool
}

// crashed records a crash at now of a run that started at startedAt and
// returns how long to wait before the restart and whether the instance
// is now in a crash loop.
func (c *crashTracker) crashed(now, startedAt time.Time) (time.Duration, bool) {
	p := c.policy
	if !startedAt.IsZero() && now.Sub(startedAt) >= p.ResetAfter {
		c.next = 0
		c.loop = false
	}
	delay := c.next
	if delay <= 0 {
		delay = p.BackoffMin
	}
	c.next = min(2*delay, p.BackoffMax)

	c.crashes = append(c.crashes, now)
	kept := c.crashes[:0]
	for _, t := range c.crashes {
		if now.Sub(t) < p.CrashWindow {
			kept = append(kept, t)
		}
	}
	c.crashes = kept
	if len(c.crashes) >= p.CrashLimit {
		c.loop = true
	}
	if c.loop {
		delay = p.BackoffMax
	}
	return delay, c.loop
}

// inLoop reports the crash-loop flag as of now: a run that has stayed up
// ResetAfter clears it.
func (c *crashTracker) inLoop(now, startedAt time.Time, running bool) bool {
	if c.loop && running && !startedAt.IsZero() && now.Sub(startedAt) >= c.policy.ResetAfter {
		c.loop = false
		c.next = 0
	}
	return c.loop
}

// logCrash reports an exit and the restart delay, and the moment an
// instance starts crash-looping (once, not on every crash of the loop).
func (pol RestartPolicy) logCrash(log *slog.Logger, exit string, delay time.Duration, loopStarted bool) {
	log.Warn("instance exited", "exit", exit, "restart_in", delay)
	if loopStarted {
		log.Error("instance is crash-looping", "crashes", pol.CrashLimit, "window", pol.CrashWindow, "restart_every", pol.BackoffMax)
	}
}
