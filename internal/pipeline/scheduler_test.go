package pipeline

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// sleepExecutor "runs" a job by sleeping for the duration in its script,
// recording start and end times and the highest concurrency seen.
type sleepExecutor struct {
	mu         sync.Mutex
	running    int
	maxRunning int
	start, end map[string]time.Time
}

func (x *sleepExecutor) Exec(ctx context.Context, spec *ExecSpec, out io.Writer) (int, error) {
	d, err := time.ParseDuration(strings.TrimSpace(spec.Script))
	if err != nil {
		return -1, err
	}
	x.mu.Lock()
	x.running++
	x.maxRunning = max(x.maxRunning, x.running)
	x.start[spec.Job] = time.Now()
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		x.running--
		x.end[spec.Job] = time.Now()
		x.mu.Unlock()
	}()
	select {
	case <-time.After(d):
		return 0, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

func TestSchedulerTiming(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// a(1s) -> b(1s) -> d(1s); a -> c(5s); e(1s) and f(1s) free.
		// With 3 slots a, e and f start at 0; b and c when a ends
		// at 1s; d when b ends at 2s, while c still runs (until 6s).
		plan := mustPlan(t, testConfig(nil, nil,
			jdef{"a", &config.Job{Run: "1s"}},
			jdef{"e", &config.Job{Run: "1s"}},
			jdef{"f", &config.Job{Run: "1s"}},
			jdef{"b", &config.Job{Needs: []string{"a"}, Run: "1s"}},
			jdef{"c", &config.Job{Needs: []string{"a"}, Run: "5s"}},
			jdef{"d", &config.Job{Needs: []string{"b"}, Run: "1s"}},
		))
		x := &sleepExecutor{start: map[string]time.Time{}, end: map[string]time.Time{}}
		t0 := time.Now()
		res, err := New(Options{Executor: x, Parallel: 3}).Run(context.Background(), plan, RunOptions{RunID: "r", Dir: "/"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != StatusSuccess {
			t.Fatalf("%+v", res.Jobs)
		}
		want := map[string]time.Duration{"a": 0, "e": 0, "f": 0, "b": time.Second, "c": time.Second, "d": 2 * time.Second}
		for job, at := range want {
			if got := x.start[job].Sub(t0); got != at {
				t.Errorf("%s started at %v, want %v", job, got, at)
			}
		}
		if x.maxRunning != 3 {
			t.Errorf("max concurrency %d, want 3", x.maxRunning)
		}
		if res.Duration != 6*time.Second {
			t.Errorf("run took %v, want 6s", res.Duration)
		}
	})
}

func TestSchedulerRespectsParallelOne(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		plan := mustPlan(t, testConfig(nil, nil,
			jdef{"a", &config.Job{Run: "1s"}}, jdef{"b", &config.Job{Run: "1s"}}, jdef{"c", &config.Job{Run: "1s"}}))
		x := &sleepExecutor{start: map[string]time.Time{}, end: map[string]time.Time{}}
		res, err := New(Options{Executor: x, Parallel: 1}).Run(context.Background(), plan, RunOptions{RunID: "r", Dir: "/"})
		if err != nil {
			t.Fatal(err)
		}
		if x.maxRunning != 1 || res.Duration != 3*time.Second {
			t.Fatalf("max concurrency %d, duration %v", x.maxRunning, res.Duration)
		}
	})
}
