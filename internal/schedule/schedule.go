// Package schedule fires named jobs on cron schedules. It is the one loop
// behind everything tug does on a clock: pipeline schedules, backups,
// restore tests, drills and rescans. Expressions are parsed where they
// are written (config.ParseSchedule, with positions); this package only
// keeps time.
//
// A tick missed while the server was down fires once when the loop
// starts, not once per missed tick, as cron users expect of a catch-up.
// A schedule seen for the first time does not fire at once: it waits for
// its next tick.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/tugdev/tug/internal/kit"
)

// Entry is one schedule.
type Entry struct {
	// Name is the entry's stable key ("pipeline/ci/0", "backup/db"): what
	// the store remembers the last tick by. Names are unique in a Set.
	Name string
	// Spec says when it fires (config.ParseSchedule builds one).
	Spec cron.Schedule
	// Fire runs the job for the tick at; it is called on its own
	// goroutine, so a slow job delays no other entry. Jobs that must not
	// overlap guard themselves (a lock, a queue): the loop fires on time
	// whatever the previous call is doing. ctx ends when the loop stops.
	Fire func(ctx context.Context, at time.Time)
}

// Store remembers the last tick fired per entry, so that a restarted
// loop can tell a missed tick. Implementations must be safe for
// concurrent use.
type Store interface {
	// Last returns the last tick fired for name; ok is false for a name
	// never fired.
	Last(name string) (at time.Time, ok bool, err error)
	// Fired records that name fired for the tick at.
	Fired(name string, at time.Time) error
}

// Options configure a Scheduler. Store is required.
type Options struct {
	Store  Store
	Logger *slog.Logger
}

// Scheduler fires entries at their ticks until Run's context ends. Set
// may be called at any time (a config reload) from any goroutine.
type Scheduler struct {
	store Store
	log   *slog.Logger

	mu      sync.Mutex
	entries []Entry
	changed chan struct{}
	wg      sync.WaitGroup
}

// New returns a scheduler with no entries.
func New(o Options) *Scheduler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{store: o.Store, log: o.Logger, changed: make(chan struct{}, 1)}
}

// Set replaces the entries. An entry whose name stays keeps its last
// tick; a new name starts counting from now.
func (s *Scheduler) Set(entries []Entry) error {
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name == "" || e.Spec == nil || e.Fire == nil {
			return fmt.Errorf("schedule: entry %q needs a name, a spec and a job", e.Name)
		}
		if seen[e.Name] {
			return fmt.Errorf("schedule: two entries named %q", e.Name)
		}
		seen[e.Name] = true
	}
	s.mu.Lock()
	s.entries = slices.Clone(entries)
	s.mu.Unlock()
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return nil
}

// Run fires entries until ctx ends, then waits for the jobs it started.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.wg.Wait()
	for {
		now := time.Now()
		next := s.fireDue(ctx, now)
		var wait <-chan time.Time
		var timer *time.Timer
		if !next.IsZero() {
			timer = time.NewTimer(next.Sub(now))
			wait = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.changed:
		case <-wait:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// fireDue starts every entry whose tick has come (a missed one once) and
// returns the earliest tick to come (zero: none).
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) time.Time {
	s.mu.Lock()
	entries := slices.Clone(s.entries)
	s.mu.Unlock()
	var earliest time.Time
	for _, e := range entries {
		last, ok, err := s.store.Last(e.Name)
		if err != nil {
			s.log.Error("schedule: reading the last tick; counting from now", "entry", e.Name, "err", err)
		}
		if !ok || err != nil {
			last = now
			if err := s.store.Fired(e.Name, now); err != nil {
				s.log.Error("schedule: recording the first sight", "entry", e.Name, "err", err)
			}
		}
		tick := e.Spec.Next(last)
		if tick.IsZero() {
			continue // a spec that never fires again
		}
		if !tick.After(now) {
			// Due, or missed while down: fire once, for the newest missed
			// tick, and count on from now.
			for n := e.Spec.Next(tick); !n.IsZero() && !n.After(now); n = e.Spec.Next(n) {
				tick = n
			}
			if err := s.store.Fired(e.Name, now); err != nil {
				s.log.Error("schedule: recording a tick; it may fire again after a restart", "entry", e.Name, "err", err)
			}
			s.log.Debug("schedule: firing", "entry", e.Name, "tick", tick)
			s.wg.Add(1)
			go func(e Entry, at time.Time) {
				defer s.wg.Done()
				e.Fire(ctx, at)
			}(e, tick)
			tick = e.Spec.Next(now)
		}
		if earliest.IsZero() || tick.Before(earliest) {
			earliest = tick
		}
	}
	return earliest
}

// FileStore keeps last ticks in one JSON file, written atomically.
type FileStore struct {
	path string
	mu   sync.Mutex
	last map[string]time.Time
}

var _ Store = (*FileStore)(nil)

// OpenFileStore reads path (a missing file is an empty store). A file
// that does not parse is an error that names it: it is left as it is.
func OpenFileStore(path string) (*FileStore, error) {
	st := &FileStore{path: path, last: map[string]time.Time{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &st.last); err != nil {
		return nil, fmt.Errorf("schedule state %s: %w (move it aside to start counting from now)", path, err)
	}
	return st, nil
}

// Last implements Store.
func (f *FileStore) Last(name string) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.last[name]
	return t, ok, nil
}

// Fired implements Store.
func (f *FileStore) Fired(name string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last[name] = at.UTC()
	b, err := json.MarshalIndent(f.last, "", "  ")
	if err != nil {
		return err
	}
	return kit.WriteFile(f.path, append(b, '\n'), 0o600)
}
