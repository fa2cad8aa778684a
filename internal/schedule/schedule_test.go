package schedule

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/robfig/cron/v3"
)

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func spec(t *testing.T, expr string) cron.Schedule {
	t.Helper()
	s, err := parser.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// memStore is a Store in memory.
type memStore struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func (m *memStore) Last(name string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.last[name]
	return t, ok, nil
}

func (m *memStore) Fired(name string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.last[name] = at
	return nil
}

// ticks records the ticks an entry fired for.
type ticks struct {
	mu sync.Mutex
	at []time.Time
}

func (r *ticks) fire(_ context.Context, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, at)
}

func (r *ticks) get() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.at)
}

func run(t *testing.T, s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	return func() { cancel(); <-done }
}

func TestFiresOnEveryTickAndNotAtFirstSight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now() // the bubble's clock: midnight
		st := &memStore{last: map[string]time.Time{}}
		s := New(Options{Store: st})
		var r ticks
		if err := s.Set([]Entry{{Name: "hourly", Spec: spec(t, "0 * * * *"), Fire: r.fire}}); err != nil {
			t.Fatal(err)
		}
		stop := run(t, s)
		synctest.Wait()
		if got := r.get(); len(got) != 0 {
			t.Fatalf("fired at first sight: %v", got)
		}
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		stop()
		want := []time.Time{start.Add(time.Hour), start.Add(2 * time.Hour), start.Add(3 * time.Hour)}
		if got := r.get(); !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Fatalf("ticks %v, want %v", got, want)
		}
	})
}

func TestMissedTicksFireOnceAtStart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		now := time.Now()
		// The server was down for five hourly ticks.
		st := &memStore{last: map[string]time.Time{"hourly": now.Add(-5*time.Hour - 30*time.Minute)}}
		s := New(Options{Store: st})
		var r ticks
		if err := s.Set([]Entry{{Name: "hourly", Spec: spec(t, "0 * * * *"), Fire: r.fire}}); err != nil {
			t.Fatal(err)
		}
		stop := run(t, s)
		synctest.Wait()
		got := r.get()
		if len(got) != 1 || !got[0].Equal(now) {
			t.Fatalf("after downtime fired %v, want once for the newest missed tick %v", got, now)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		stop()
		if got := r.get(); len(got) != 2 || !got[1].Equal(now.Add(time.Hour)) {
			t.Fatalf("then %v, want the next tick as usual", got)
		}
	})
}

func TestSetReplacesEntriesAndWakesTheLoop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		st := &memStore{last: map[string]time.Time{}}
		s := New(Options{Store: st})
		var daily, minutely ticks
		if err := s.Set([]Entry{{Name: "daily", Spec: spec(t, "@daily"), Fire: daily.fire}}); err != nil {
			t.Fatal(err)
		}
		stop := run(t, s)
		synctest.Wait()
		// The loop sleeps until tomorrow; a new entry must not wait that long.
		if err := s.Set([]Entry{{Name: "minutely", Spec: spec(t, "* * * * *"), Fire: minutely.fire}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if got := minutely.get(); len(got) != 2 || !got[0].Equal(start.Add(time.Minute)) {
			t.Fatalf("minutely fired %v", got)
		}
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		stop()
		if got := daily.get(); len(got) != 0 {
			t.Fatalf("a removed entry fired: %v", got)
		}
	})
}

func TestSetRefusesBadEntries(t *testing.T) {
	t.Parallel()
	s := New(Options{Store: &memStore{last: map[string]time.Time{}}})
	noop := func(context.Context, time.Time) {}
	for _, es := range [][]Entry{
		{{Name: "", Spec: spec(t, "@daily"), Fire: noop}},
		{{Name: "a", Fire: noop}},
		{{Name: "a", Spec: spec(t, "@daily")}},
		{{Name: "a", Spec: spec(t, "@daily"), Fire: noop}, {Name: "a", Spec: spec(t, "@hourly"), Fire: noop}},
	} {
		if err := s.Set(es); err == nil {
			t.Errorf("Set(%v) took it", es)
		}
	}
}

func TestFileStoreKeepsTicksAndRefusesAGarbledFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "schedule.json")
	st, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	if err := st.Fired("backup/db", at); err != nil {
		t.Fatal(err)
	}
	again, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := again.Last("backup/db"); err != nil || !ok || !got.Equal(at) {
		t.Fatalf("Last = %v %v %v", got, ok, err)
	}
	if err := writeFile(path, "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileStore(path); err == nil {
		t.Fatal("a garbled file was taken as empty")
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
