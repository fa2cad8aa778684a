package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// errGone: the instance no longer exists (its container was removed
// behind tug's back), so there is nothing left to supervise.
var errGone = errors.New("instance gone")

// supervisor is what both runtimes share to supervise their instances:
// the lock guarding their state, the clock, the restart policy, and the
// life of supervision (ctx ends at Close). Its loop restarts the
// instances of either runtime the same way.
type supervisor struct {
	mu       sync.Mutex
	now      func() time.Time
	pol      RestartPolicy
	log      *slog.Logger
	ctx      context.Context // ends at Close
	cancel   context.CancelFunc
	isClosed bool
	wg       sync.WaitGroup // the loops, and any other goroutine of the runtime
}

func (s *supervisor) init(log *slog.Logger, now func() time.Time, pol RestartPolicy) {
	s.log, s.now, s.pol = log, now, pol.withDefaults()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
}

// supervision is what the loop keeps of one instance. Its fields are
// guarded by supervisor.mu.
type supervision struct {
	state     State
	startedAt time.Time
	restarts  int
	lastExit  string
	tracker   crashTracker
	stopping  bool
	ctx       context.Context // ends at Stop or Close
	cancel    context.CancelFunc
	done      chan struct{} // closed when the loop returned (or never ran)
	removed   chan struct{} // closed when Stop finished
}

// supervision returns a new instance's supervision, its context a child
// of the runtime's.
func (s *supervisor) supervision() supervision {
	ctx, cancel := context.WithCancel(s.ctx)
	return supervision{
		tracker: crashTracker{policy: s.pol},
		ctx:     ctx, cancel: cancel,
		done:    make(chan struct{}),
		removed: make(chan struct{}),
	}
}

// record is what supervision has learned of an instance, kept on disk
// with it so a runtime that adopts the instance carries on counting.
type record struct {
	Restarts  int           `json:"restarts"`
	LastExit  string        `json:"last_exit,omitempty"`
	CrashLoop bool          `json:"crash_loop,omitempty"`
	Crashes   []time.Time   `json:"crashes,omitempty"`
	NextDelay time.Duration `json:"next_delay_ns,omitempty"`
}

// record snapshots in's counts; supervisor.mu is held.
func (in *supervision) record() record {
	return record{
		Restarts: in.restarts, LastExit: in.lastExit, CrashLoop: in.tracker.loop,
		Crashes: slices.Clone(in.tracker.crashes), NextDelay: in.tracker.next,
	}
}

// restore takes the counts of r; supervisor.mu is held (or in is not
// shared yet).
func (in *supervision) restore(r record) {
	in.restarts, in.lastExit = r.Restarts, r.LastExit
	in.tracker.loop, in.tracker.crashes, in.tracker.next = r.CrashLoop, r.Crashes, r.NextDelay
}

// describe fills the supervision fields of inst; supervisor.mu is held.
func (s *supervisor) describe(in *supervision, inst *Instance) {
	inst.State = in.state
	inst.Restarts = in.restarts
	inst.CrashLoop = in.tracker.inLoop(s.now(), in.startedAt, in.state == Running)
	inst.LastExit = in.lastExit
	inst.StartedAt = in.startedAt
}

// driver is what the loop needs of one instance of a runtime. The loop
// calls it from its own goroutine, one call at a time, never with
// supervisor.mu held; wait and start return early, with ctx's error, when
// ctx ends (Stop or Close).
type driver interface {
	// wait blocks until the instance's current run ends and says how
	// ("exit status 1"); errGone when the instance no longer exists.
	wait(ctx context.Context) (exit string, err error)
	// start starts a new run of the instance; errGone as wait.
	start(ctx context.Context) error
	// save persists the instance's record after the loop changed it.
	save()
	// gone forgets an instance that no longer exists.
	gone()
}

// watch starts the loop of in; supervisor.mu is held. A closed runtime
// supervises nothing: in is only marked done.
func (s *supervisor) watch(in *supervision, d driver, log *slog.Logger) {
	if s.isClosed {
		close(in.done)
		return
	}
	s.wg.Add(1)
	go s.loop(in, d, log)
}

// loop is the one supervision loop: it waits for each run of the
// instance to end, records the crash (backoff, crash-loop detection, as
// the RestartPolicy says), waits the delay and starts the instance again,
// until Stop or Close end in.ctx or the instance is gone. A failed start
// counts as one more crash, seen at once.
func (s *supervisor) loop(in *supervision, d driver, log *slog.Logger) {
	defer s.wg.Done()
	defer close(in.done)
	var startErr error
	for {
		var exit string
		if startErr != nil {
			exit = "start: " + startErr.Error()
		} else {
			var err error
			exit, err = d.wait(in.ctx)
			if errors.Is(err, errGone) {
				log.Warn("instance removed outside tug; no longer supervised")
				d.gone()
				return
			}
			if err != nil {
				return
			}
		}
		s.mu.Lock()
		wasLoop := in.tracker.loop
		delay, loop := in.tracker.crashed(s.now(), in.startedAt)
		in.state, in.lastExit = Restarting, exit
		s.mu.Unlock()
		d.save()
		s.pol.logCrash(log, exit, delay, loop && !wasLoop)
		if !sleep(in.ctx, delay) {
			return
		}

		startErr = d.start(in.ctx)
		if in.ctx.Err() != nil {
			return
		}
		if errors.Is(startErr, errGone) {
			log.Warn("instance removed outside tug; no longer supervised")
			d.gone()
			return
		}
		s.mu.Lock()
		in.restarts++
		if startErr == nil {
			in.state, in.startedAt = Running, s.now()
		}
		restarts := in.restarts
		s.mu.Unlock()
		d.save()
		if startErr == nil {
			log.Info("instance restarted", "restarts", restarts)
		}
	}
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// halt begins a Stop of instance id: it ends the instance's supervision
// and waits for its loop to return, so no restart races with the stop.
// first is false when another Stop was already at it; halt then waits
// for that one to finish (err when ctx ends first).
func (s *supervisor) halt(ctx context.Context, id string, in *supervision) (first bool, err error) {
	s.mu.Lock()
	if in.stopping {
		removed := in.removed
		s.mu.Unlock()
		select {
		case <-removed:
			return false, nil
		case <-ctx.Done():
			return false, fmt.Errorf("stop instance %s: %w", id, ctx.Err())
		}
	}
	in.stopping = true
	in.cancel()
	s.mu.Unlock()
	<-in.done
	return true, nil
}

// stopped ends a Stop begun by halt: forget drops the instance from the
// runtime's map (under supervisor.mu), and Stops waiting in halt return.
func (s *supervisor) stopped(in *supervision, forget func()) {
	s.mu.Lock()
	forget()
	close(in.removed)
	s.mu.Unlock()
}

// shutdown ends supervision and waits for every loop; false when it was
// already shut down.
func (s *supervisor) shutdown() bool {
	s.mu.Lock()
	if s.isClosed {
		s.mu.Unlock()
		return false
	}
	s.isClosed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return true
}
