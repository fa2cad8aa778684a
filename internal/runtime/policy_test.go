package runtime

import (
	"testing"
	"time"
)

func TestCrashTrackerBackoffDoublesCapsAndResets(t *testing.T) {
	t.Parallel()
	c := crashTracker{policy: RestartPolicy{CrashLimit: 1000}.withDefaults()}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var got []time.Duration
	for range 8 {
		// Each run crashes 1s after it started: never long enough to reset.
		started := now
		now = now.Add(time.Second)
		d, _ := c.crashed(now, started)
		got = append(got, d)
		now = now.Add(d)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		if got[i] != w*time.Second {
			t.Fatalf("delays = %v, want %v seconds", got, want)
		}
	}
	// A run that stayed up a minute starts the backoff over.
	started := now
	now = now.Add(time.Minute)
	if d, _ := c.crashed(now, started); d != time.Second {
		t.Fatalf("delay after 1m of uptime = %v, want 1s", d)
	}
}

func TestCrashTrackerCrashLoop(t *testing.T) {
	t.Parallel()
	c := crashTracker{policy: RestartPolicy{}.withDefaults()}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	for i := 1; i <= 5; i++ {
		d, loop := c.crashed(now, now.Add(-time.Second))
		if want := i >= 5; loop != want {
			t.Fatalf("crash %d: loop = %v, want %v", i, loop, want)
		}
		if i == 5 && d != time.Minute {
			t.Fatalf("crash-loop delay = %v, want the longest backoff 1m", d)
		}
		now = now.Add(10 * time.Second)
	}
	// Still flagged while the last run has not stayed up long.
	started := now
	if !c.inLoop(started.Add(30*time.Second), started, true) {
		t.Fatal("crash loop cleared after 30s of uptime")
	}
	if c.inLoop(started.Add(time.Minute), started, true) {
		t.Fatal("crash loop still flagged after 1m of uptime")
	}
}

func TestCrashTrackerSpreadCrashesAreNoLoop(t *testing.T) {
	t.Parallel()
	c := crashTracker{policy: RestartPolicy{}.withDefaults()}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		// One crash every 2 minutes: at most 3 in any 5 minutes.
		if _, loop := c.crashed(now, now.Add(-time.Second)); loop {
			t.Fatalf("crash %d flagged a crash loop", i+1)
		}
		now = now.Add(2 * time.Minute)
	}
}
