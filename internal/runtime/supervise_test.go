package runtime

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// fakeRuns is a driver whose runs end at once with exit, and whose starts
// fail with startErr; it counts the loop's calls.
type fakeRuns struct {
	mu       sync.Mutex
	exit     string
	waitErr  error // returned by wait instead of an exit
	startErr error
	waits    int
	starts   int
	saves    int
}

func (f *fakeRuns) wait(ctx context.Context) (string, error) {
	f.mu.Lock()
	f.waits++
	exit, err := f.exit, f.waitErr
	f.mu.Unlock()
	if exit == "" && err == nil {
		<-ctx.Done() // runs until stopped
		return "", ctx.Err()
	}
	return exit, err
}

func (f *fakeRuns) start(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	return f.startErr
}

func (f *fakeRuns) save() { f.mu.Lock(); f.saves++; f.mu.Unlock() }

func (f *fakeRuns) gone() {}

func (f *fakeRuns) counts() (waits, starts, saves int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waits, f.starts, f.saves
}

var (
	_ driver = (*fakeRuns)(nil)
	_ driver = (*goneRuns)(nil)
)

// newSupervisor returns a supervisor with policy pol and a test logger.
func newSupervisor(t *testing.T, pol RestartPolicy) (*supervisor, *testkit.SyncBuffer) {
	t.Helper()
	log, buf := testkit.Logger()
	s := &supervisor{}
	s.init(log, nil, pol)
	t.Cleanup(func() { s.shutdown() })
	return s, buf
}

// supervise starts the loop on a new instance driven by d.
func supervise(s *supervisor, d driver) *supervision {
	in := s.supervision()
	in.state, in.startedAt = Running, s.now()
	s.mu.Lock()
	s.watch(&in, d, s.log)
	s.mu.Unlock()
	return &in
}

func (s *supervisor) snapshotOf(in *supervision) Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	var inst Instance
	s.describe(in, &inst)
	return inst
}

func TestSupervisionRestartsWithBackoffAndFlagsCrashLoop(t *testing.T) {
	t.Parallel()
	s, logs := newSupervisor(t, RestartPolicy{BackoffMin: time.Millisecond, BackoffMax: 4 * time.Millisecond, CrashLimit: 3})
	f := &fakeRuns{exit: "exit status 2"}
	in := supervise(s, f)
	var got Instance
	testkit.Eventually(t, 0, "a crash loop", func() bool { got = s.snapshotOf(in); return got.CrashLoop && got.Restarts >= 3 })
	if got.LastExit != "exit status 2" {
		t.Fatalf("instance = %+v", got)
	}
	testkit.Eventually(t, 0, "the crash-loop log line", func() bool {
		return containsAll(logs.String(), `msg="instance is crash-looping"`, `msg="instance restarted"`, `restart_in=4ms`)
	})
	if first, err := s.halt(context.Background(), "x", in); !first || err != nil {
		t.Fatalf("halt = %v, %v", first, err)
	}
	select {
	case <-in.done: // the loop returned: nothing restarts the instance any more
	default:
		t.Fatal("halt returned before the loop did")
	}
	// Every crash and every restart is persisted; only the last restart's
	// save may be cut off by the halt that stops the instance.
	if _, starts, saves := f.counts(); saves < 2*starts-1 {
		t.Fatalf("%d saves for %d restarts: every crash and every restart is persisted", saves, starts)
	}
}

func TestSupervisionFailedStartIsACrash(t *testing.T) {
	t.Parallel()
	s, _ := newSupervisor(t, RestartPolicy{BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, CrashLimit: 3})
	f := &fakeRuns{exit: "exit status 1", startErr: errors.New("no such binary")}
	in := supervise(s, f)
	var got Instance
	testkit.Eventually(t, 0, "crashes from failed starts", func() bool { got = s.snapshotOf(in); return got.CrashLoop })
	if got.LastExit != "start: no such binary" || got.State != Restarting {
		t.Fatalf("instance = %+v", got)
	}
	// A failed start is not waited for: only the first run was.
	if waits, starts, _ := f.counts(); waits != 1 || starts < 2 {
		t.Fatalf("waits = %d, starts = %d", waits, starts)
	}
}

func TestSupervisionStopsDuringBackoffAndWhenGone(t *testing.T) {
	t.Parallel()
	s, _ := newSupervisor(t, RestartPolicy{BackoffMin: time.Hour, BackoffMax: time.Hour})
	f := &fakeRuns{exit: "exit status 1"}
	in := supervise(s, f)
	testkit.Eventually(t, 0, "the crash", func() bool { return s.snapshotOf(in).State == Restarting })
	done := make(chan error, 1)
	go func() { _, err := s.halt(context.Background(), "x", in); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("halt waited out the backoff")
	}
	// A second Stop waits for the first to finish, or for its context.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if first, err := s.halt(ctx, "x", in); first || !errors.Is(err, context.Canceled) {
		t.Fatalf("second halt = %v, %v", first, err)
	}
	s.stopped(in, func() {})
	if first, err := s.halt(context.Background(), "x", in); first || err != nil {
		t.Fatalf("halt after stopped = %v, %v", first, err)
	}

	g := &goneRuns{}
	gin := supervise(s, g)
	select {
	case <-gin.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the loop went on after the instance was gone")
	}
	if !g.wasGone() {
		t.Fatal("gone was not called")
	}
}

func TestSupervisionShutdownEndsEveryLoop(t *testing.T) {
	t.Parallel()
	s, _ := newSupervisor(t, RestartPolicy{})
	ins := []*supervision{supervise(s, &fakeRuns{}), supervise(s, &fakeRuns{})}
	if !s.shutdown() || s.shutdown() {
		t.Fatal("shutdown: first true, then false")
	}
	for _, in := range ins {
		select {
		case <-in.done:
		default:
			t.Fatal("a loop outlived shutdown")
		}
	}
	// A closed supervisor supervises nothing new.
	late := supervise(s, &fakeRuns{})
	select {
	case <-late.done:
	default:
		t.Fatal("a loop started after shutdown")
	}
}

// goneRuns is an instance removed behind the runtime's back.
type goneRuns struct {
	mu     sync.Mutex
	isGone bool
}

func (g *goneRuns) wait(context.Context) (string, error) { return "", errGone }
func (g *goneRuns) start(context.Context) error          { return nil }
func (g *goneRuns) save()                                {}
func (g *goneRuns) gone()                                { g.mu.Lock(); g.isGone = true; g.mu.Unlock() }
func (g *goneRuns) wasGone() bool                        { g.mu.Lock(); defer g.mu.Unlock(); return g.isGone }

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
