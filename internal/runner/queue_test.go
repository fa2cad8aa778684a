package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
	"github.com/tugdev/tug/internal/trigger"
)

// repo is a git repository holding a tug.yaml, as a server has it.
type repo struct {
	dir, state string
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newRepo(t *testing.T, yaml string) *repo {
	t.Helper()
	dir := t.TempDir()
	r := &repo{dir: filepath.Join(dir, "work"), state: filepath.Join(dir, "state")}
	gitIn(t, dir, "init", "-q", "-b", "main", r.dir)
	r.commit(t, yaml)
	return r
}

// commit writes tug.yaml and commits it; it returns the commit.
func (r *repo) commit(t *testing.T, yaml string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.dir, "tug.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, r.dir, "add", "-A")
	gitIn(t, r.dir, "commit", "-q", "--allow-empty", "-m", "change")
	return gitIn(t, r.dir, "rev-parse", "HEAD")
}

func parseT(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tug.yaml", []byte(yaml), config.LoadOptions{LookupEnv: os.LookupEnv})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startQueue runs a queue over r until the test ends.
func startQueue(t *testing.T, r *repo, cfg *config.Config) (*Queue, *store.Store) {
	t.Helper()
	return startQueueWith(t, r, cfg, nil)
}

// startQueueWith is startQueue with the options changed by opt.
func startQueueWith(t *testing.T, r *repo, cfg *config.Config, opt func(*QueueOptions)) (*Queue, *store.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, r.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := QueueOptions{
		Runner: New(Options{Store: st, StateDir: r.state}), Store: st, StateDir: r.state,
		ConfigPath: filepath.Join(r.dir, "tug.yaml"), Config: func() *config.Config { return cfg },
	}
	if opt != nil {
		opt(&o)
	}
	q, err := NewQueue(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return q, st
}

func push(t *testing.T, q *Queue, r *repo, commit string) []RunInfo {
	t.Helper()
	runs, err := q.OnPush(context.Background(), PushSource{Origin: OriginPush}, []trigger.Push{{Ref: "refs/heads/main", New: commit}})
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func waitRun(t *testing.T, st *store.Store, id int64, statuses ...string) *store.Run {
	t.Helper()
	var last *store.Run
	defer func() {
		// Say where the run got to when it never arrived.
		if t.Failed() && last != nil {
			t.Logf("run %d was last %s: %s", id, last.Status, last.Reason)
			_, jobs, _ := st.GetRun(context.Background(), id)
			for _, j := range jobs {
				lines, _ := st.Logs(context.Background(), id, j.Name)
				t.Logf("  job %s: %s %s %+v", j.Name, j.Status, j.Reason, lines)
			}
		}
	}()
	testkit.Eventually(t, 30*time.Second, "run "+strconv.FormatInt(id, 10)+" to be "+strings.Join(statuses, "/"), func() bool {
		r, _, err := st.GetRun(context.Background(), id)
		if err != nil {
			return false
		}
		last = r
		for _, s := range statuses {
			if r.Status == s {
				return true
			}
		}
		return false
	})
	return last
}

// TestServerRunsInSeparateWorktrees: two runs at once each see only their
// own commit's files and what they write, and the working copy the
// server's tug.yaml is in is left as it was.
func TestServerRunsInSeparateWorktrees(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	yaml := func(v string) string {
		return `version: 1
server: {max_parallel_runs: 2}
pipelines:
  ci:
    on: [push]
    jobs:
      look:
        run: |
          echo ` + v + ` > version.txt
          echo $TUG_RUN_ID > mine-$TUG_RUN_ID
          touch ` + shared + `/started-$TUG_RUN_ID
          for i in $(seq 100); do [ $(ls ` + shared + ` | wc -l) -ge 2 ] && break; sleep 0.05; done
          [ $(ls ` + shared + ` | wc -l) -ge 2 ] || { echo "the other run never started"; exit 1; }
          ls mine-* | wc -l | grep -qx 1 || { echo "sees another run's files:"; ls; exit 1; }
          grep -qx ` + v + ` version.txt
          grep -q "echo ` + v + `" tug.yaml
`
	}
	r := newRepo(t, yaml("one"))
	first := gitIn(t, r.dir, "rev-parse", "HEAD")
	second := r.commit(t, yaml("two"))
	before := gitIn(t, r.dir, "status", "--porcelain", "--ignored")
	q, st := startQueue(t, r, parseT(t, yaml("two")))
	a, b := push(t, q, r, first), push(t, q, r, second)
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("runs: %+v %+v", a, b)
	}
	for _, run := range []RunInfo{a[0], b[0]} {
		if got := waitRun(t, st, run.ID, "success", "failed"); got.Status != "success" {
			lines, _ := st.Logs(context.Background(), run.ID, "")
			t.Errorf("run %d: %s %+v", run.ID, got.Status, lines)
		}
	}
	if after := gitIn(t, r.dir, "status", "--porcelain", "--ignored"); after != before {
		t.Errorf("the working copy changed:\n%s\nwas:\n%s", after, before)
	}
	testkit.Eventually(t, 5*time.Second, "worktrees removed", func() bool {
		left, _ := os.ReadDir(filepath.Join(r.state, "worktrees"))
		return len(left) == 0
	})
}

// TestMaxParallelRuns: never more runs at once than max_parallel_runs.
func TestMaxParallelRuns(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    jobs:
      count:
        run: |
          mkdir ` + shared + `/running-$TUG_RUN_ID
          set -- ` + shared + `/running-*; echo $# >> ` + shared + `/seen
          sleep 0.2
          rmdir ` + shared + `/running-$TUG_RUN_ID
`
	r := newRepo(t, yaml)
	cfg := parseT(t, yaml)
	cfg.Server = &config.Server{MaxParallelRuns: 2}
	q, st := startQueue(t, r, cfg)
	var commits []string
	for i := range 6 { // six commits: one pushed twice starts one run
		commits = append(commits, r.commit(t, fmt.Sprintf("%s# %d\n", yaml, i)))
	}
	var ids []int64
	for _, c := range commits {
		ids = append(ids, push(t, q, r, c)[0].ID)
	}
	for _, id := range ids {
		waitRun(t, st, id, "success")
	}
	seen, _ := os.ReadFile(filepath.Join(shared, "seen"))
	most := 0
	for _, f := range strings.Fields(string(seen)) {
		n, _ := strconv.Atoi(f)
		most = max(most, n)
	}
	if most != 2 {
		t.Errorf("most runs at once: %d, want 2 (%q)", most, seen)
	}
}

// TestConcurrencyGroupCancelInProgress: a newer push to the branch cancels
// the run in progress and supersedes the queued one; the newest runs.
func TestConcurrencyGroupCancelInProgress(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    concurrency: {group: "ci-${{ branch }}", cancel_in_progress: true}
    jobs:
      slow: {run: "if grep -q '^# SLOW' tug.yaml; then sleep 30; fi"}
`
	r := newRepo(t, yaml)
	q, st := startQueue(t, r, parseT(t, yaml))
	slow := r.commit(t, yaml+"# SLOW\n")
	a := push(t, q, r, slow)[0]
	waitRun(t, st, a.ID, "running")
	b := push(t, q, r, slow)[0]
	c := push(t, q, r, r.commit(t, yaml))[0]
	if got := waitRun(t, st, a.ID, "cancelled"); !strings.Contains(got.Reason, "superseded by run") {
		t.Errorf("run in progress: %+v", got)
	}
	// b was queued, or had just started, when c came: cancelled either way.
	if got := waitRun(t, st, b.ID, "cancelled"); !strings.HasPrefix(got.Reason, "superseded by run "+strconv.FormatInt(c.ID, 10)) {
		t.Errorf("queued run: %+v", got)
	}
	waitRun(t, st, c.ID, "success")
}

// TestInvalidPushedConfig: a pushed commit whose tug.yaml is invalid
// gives a failed run showing the positioned errors.
func TestInvalidPushedConfig(t *testing.T) {
	t.Parallel()
	yaml := "version: 1\npipelines:\n  ci:\n    on: [push]\n    jobs:\n      a: {run: \"true\"}\n"
	r := newRepo(t, yaml)
	q, st := startQueue(t, r, parseT(t, yaml))
	bad := r.commit(t, "version: 1\npipelines:\n  ci:\n    on: [push]\n    jobs:\n      a: {run: \"true\", needs: [nope]}\n")
	runs := push(t, q, r, bad)
	if len(runs) != 1 || runs[0].Status != "failed" || runs[0].Pipeline != "ci" {
		t.Fatalf("runs: %+v", runs)
	}
	lines, err := st.Logs(context.Background(), runs[0].ID, "")
	if err != nil || len(lines) == 0 || !strings.HasPrefix(lines[0].Line, "tug.yaml:6:") || !strings.Contains(lines[0].Line, "nope") {
		t.Errorf("log: %+v %v", lines, err)
	}
}

// TestQueuedRunsSurviveRestart: runs queued when the server stopped run
// when the next one starts; a leftover worktree is removed.
func TestQueuedRunsSurviveRestart(t *testing.T) {
	t.Parallel()
	yaml := "version: 1\npipelines:\n  ci:\n    on: [push]\n    jobs:\n      a: {run: \"true\"}\n"
	r := newRepo(t, yaml)
	ctx := context.Background()
	st, err := store.Open(ctx, r.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := NewQueue(ctx, QueueOptions{Runner: New(Options{Store: st, StateDir: r.state}), Store: st, StateDir: r.state,
		ConfigPath: filepath.Join(r.dir, "tug.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	queued := push(t, q, r, gitIn(t, r.dir, "rev-parse", "HEAD"))[0] // no Run: the server "stops" here
	st.Close()
	left := filepath.Join(r.state, "worktrees", "run-99")
	if err := os.MkdirAll(left, 0o700); err != nil {
		t.Fatal(err)
	}
	_, st2 := startQueue(t, r, nil)
	waitRun(t, st2, queued.ID, "success")
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("leftover worktree: %v", err)
	}
}

// stormDeployer is a deployer that counts deploys of a service at once.
type stormDeployer struct {
	mu        sync.Mutex
	now, most int
	deployed  []string
}

func (d *stormDeployer) Deploy(ctx context.Context, req pipeline.DeployRequest, _ io.Writer) error {
	d.mu.Lock()
	d.now++
	d.most = max(d.most, d.now)
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.now--; d.mu.Unlock() }()
	select {
	case <-time.After(150 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	d.deployed = append(d.deployed, req.Revision)
	d.mu.Unlock()
	return nil
}

// TestPushStorm: 50 pushes to one branch in about 5 seconds, with
// cancel_in_progress: the newest commit's run finishes, every older one
// is cancelled or superseded, and never are two deploys of the service
// under way at once.
func TestPushStorm(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
server: {max_parallel_runs: 4}
pipelines:
  ci:
    on: [push]
    concurrency: {group: "deploy-${{ branch }}", cancel_in_progress: true}
    jobs:
      test: {run: "sleep 0.1"}
      ship: {needs: [test], deploy: {service: shop, environment: staging}}
services:
  shop: {run: ./shop}
environments:
  staging: {}
`
	r := newRepo(t, yaml)
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, r.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &stormDeployer{}
	cfg := parseT(t, yaml)
	q, err := NewQueue(ctx, QueueOptions{
		Runner: New(Options{Store: st, StateDir: r.state, Deployer: d}), Store: st, StateDir: r.state,
		ConfigPath: filepath.Join(r.dir, "tug.yaml"), Config: func() *config.Config { return cfg },
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })

	var commits []string
	for i := range 50 {
		commits = append(commits, r.commit(t, fmt.Sprintf("%s# push %d\n", yaml, i)))
	}
	var ids []int64
	tick := time.NewTicker(100 * time.Millisecond) // 50 pushes in 5s
	defer tick.Stop()
	for _, c := range commits {
		<-tick.C
		runs := push(t, q, r, c)
		if len(runs) != 1 {
			t.Fatalf("push %s: runs %+v", c, runs)
		}
		ids = append(ids, runs[0].ID)
	}
	last := waitRun(t, st, ids[len(ids)-1], "success", "failed", "cancelled")
	if last.Status != "success" || last.Commit != commits[len(commits)-1] {
		t.Fatalf("the newest run: %+v", last)
	}
	for _, id := range ids[:len(ids)-1] {
		r := waitRun(t, st, id, "success", "failed", "cancelled", "interrupted")
		if r.Status != "cancelled" && r.Status != "success" {
			t.Errorf("run %d: %s (%s)", id, r.Status, r.Reason)
		}
		if r.Status == "cancelled" && !strings.HasPrefix(r.Reason, "superseded by run") {
			t.Errorf("run %d cancelled, but not superseded: %q", id, r.Reason)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.most != 1 {
		t.Errorf("deploys at once: %d", d.most)
	}
	if n := len(d.deployed); n == 0 || d.deployed[n-1] != commits[len(commits)-1] {
		t.Errorf("the last deploy was not the newest commit: %v", d.deployed)
	}
}

// TestManualAndScheduledRuns: a run asked for by hand or by a schedule
// runs the head of the server repository's branch; what on: does not
// allow, an unknown pipeline or job is refused and nothing is queued.
func TestManualAndScheduledRuns(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
pipelines:
  ci:
    on: [push, manual]
    jobs:
      a: {run: "echo event=$TUG_EVENT"}
  nightly:
    on: [{schedule: "@daily"}]
    jobs:
      n: {run: "echo nightly"}
`
	r := newRepo(t, yaml)
	q, st := startQueue(t, r, parseT(t, yaml))
	ctx := context.Background()
	run, err := q.Start(ctx, StartRequest{Pipeline: "ci", Who: "ann"}, OriginManual)
	if err != nil {
		t.Fatal(err)
	}
	if run.Event != OriginManual || run.On != "manual" || run.Branch != "main" || run.Commit != gitIn(t, r.dir, "rev-parse", "HEAD") || run.Trigger != "ann" {
		t.Errorf("manual run: %+v", run)
	}
	waitRun(t, st, run.ID, "success")
	for _, bad := range []StartRequest{{Pipeline: "nightly"}, {Pipeline: "nope"}, {Pipeline: "ci", Jobs: []string{"zz"}}, {Pipeline: "ci", Branch: "nope"}} {
		if _, err := q.Start(ctx, bad, OriginManual); err == nil {
			t.Errorf("%+v was queued", bad)
		}
	}
	if _, err := q.Start(ctx, StartRequest{Pipeline: "nightly", Force: true}, OriginManual); err != nil {
		t.Errorf("forced: %v", err)
	}
	q.Scheduled(ctx, "nightly", time.Now())
	runs, err := List(ctx, st, store.ListOptions{Limit: 1})
	if err != nil || len(runs) != 1 || runs[0].Event != OriginSchedule || runs[0].On != "schedule" || runs[0].Pipeline != "nightly" {
		t.Fatalf("scheduled: %+v %v", runs, err)
	}
	waitRun(t, st, runs[0].ID, "success")
	all, _ := List(ctx, st, store.ListOptions{})
	if len(all) != 3 {
		t.Errorf("runs: %+v", all)
	}
}

// TestSamePushTwiceStartsOneRun: the same commit of a branch delivered
// again (a webhook's redelivery, a push both watched and posted, at once
// or after the run ended) answers the run it started and queues none;
// the same commit on another branch, or after its run was cancelled,
// starts its own.
func TestSamePushTwiceStartsOneRun(t *testing.T) {
	t.Parallel()
	yaml := "version: 1\npipelines:\n  ci:\n    on: [push]\n    jobs:\n      test: {run: \"true\"}\n"
	r := newRepo(t, yaml)
	q, st := startQueue(t, r, parseT(t, yaml))
	commit := gitIn(t, r.dir, "rev-parse", "HEAD")
	ctx := context.Background()
	deliver := func(origin string, ref string) []RunInfo {
		t.Helper()
		runs, err := q.OnPush(ctx, PushSource{Origin: origin}, []trigger.Push{{Ref: ref, New: commit}})
		if err != nil {
			t.Fatal(err)
		}
		return runs
	}
	// At once: the watch and the webhook.
	var wg sync.WaitGroup
	got := make([][]RunInfo, 2)
	for i, origin := range []string{OriginPush, OriginWebhook} {
		wg.Go(func() { got[i] = deliver(origin, "refs/heads/main") })
	}
	wg.Wait()
	if len(got[0]) != 1 || len(got[1]) != 1 || got[0][0].ID != got[1][0].ID {
		t.Fatalf("two deliveries: %+v", got)
	}
	first := got[0][0].ID
	waitRun(t, st, first, "success")
	if again := deliver(OriginWebhook, "refs/heads/main"); len(again) != 1 || again[0].ID != first {
		t.Fatalf("a redelivery after the run: %+v", again)
	}
	other := deliver(OriginPush, "refs/heads/release")
	if len(other) != 1 || other[0].ID == first {
		t.Fatalf("another branch: %+v", other)
	}
	runs, err := st.ListRuns(ctx, store.ListOptions{})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs: %d %v", len(runs), err)
	}
}

// TestCancelServerRuns: `tug runs cancel` of a queued run cancels it
// before it starts; of a running one stops its job and removes its
// worktree; both say who cancelled them, and the queue goes on. A run
// that ended or does not exist cannot be cancelled.
func TestCancelServerRuns(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    jobs:
      work:
        run: |
          echo started >> ` + shared + `/started-$TUG_RUN_ID
          if grep -q '^# SLOW' tug.yaml; then echo $$ > ` + shared + `/pid; sleep 30; touch ` + shared + `/finished; fi
`
	r := newRepo(t, yaml)
	cfg := parseT(t, yaml)
	cfg.Server = &config.Server{MaxParallelRuns: 1}
	q, st := startQueue(t, r, cfg)
	ctx := context.Background()

	running := push(t, q, r, r.commit(t, yaml+"# SLOW\n"))[0]
	waitRun(t, st, running.ID, "running")
	var pid int
	testkit.Eventually(t, 30*time.Second, "the slow job to start", func() bool {
		b, err := os.ReadFile(filepath.Join(shared, "pid"))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	})
	queued := push(t, q, r, r.commit(t, yaml+"# SLOW again\n"))[0]
	if got := waitRun(t, st, queued.ID, "queued"); got.Status != "queued" {
		t.Fatalf("second run: %+v", got)
	}

	info, err := q.Cancel(ctx, queued.ID, "ann")
	if err != nil || info.Status != "cancelled" || info.Reason != "cancelled by ann" {
		t.Fatalf("cancel of the queued run: %+v %v", info, err)
	}
	info, err = q.Cancel(ctx, running.ID, "ann")
	if err != nil {
		t.Fatalf("cancel of the running run: %v", err)
	}
	if got := waitRun(t, st, running.ID, "cancelled"); got.Reason != "cancelled by ann" {
		t.Errorf("the running run, cancelled: %+v", got)
	}
	testkit.Eventually(t, 10*time.Second, "the cancelled job's process to end", func() bool {
		return syscall.Kill(pid, 0) != nil
	})
	testkit.Eventually(t, 10*time.Second, "the cancelled run's worktree to be removed", func() bool {
		_, err := os.Stat(filepath.Join(r.state, "worktrees", "run-"+strconv.FormatInt(running.ID, 10)))
		return os.IsNotExist(err)
	})
	if _, err := os.Stat(filepath.Join(shared, "finished")); err == nil {
		t.Error("the cancelled job ran to its end")
	}

	// The queue goes on; the cancelled queued run never started.
	next := push(t, q, r, r.commit(t, yaml+"# fast\n"))[0]
	waitRun(t, st, next.ID, "success")
	if _, err := os.Stat(filepath.Join(shared, "started-"+strconv.FormatInt(queued.ID, 10))); err == nil {
		t.Error("the cancelled queued run started")
	}
	if _, err := q.Cancel(ctx, next.ID, "ann"); !errors.Is(err, ErrFinished) {
		t.Errorf("cancel of an ended run: %v, want ErrFinished", err)
	}
	if _, err := q.Cancel(ctx, 999, "ann"); !errors.Is(err, ErrNoRun) {
		t.Errorf("cancel of no run: %v, want ErrNoRun", err)
	}
}

// statusLog is a StatusReporter that keeps what it was told.
type statusLog struct {
	mu   sync.Mutex
	seen []string
}

func (s *statusLog) Report(_ context.Context, run RunInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, fmt.Sprintf("%s %s %s", run.Pipeline, run.Commit, run.Status))
}

func (s *statusLog) of(pipeline string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.seen {
		if strings.HasPrefix(l, pipeline+" ") {
			out = append(out, l)
		}
	}
	return out
}

var _ StatusReporter = (*statusLog)(nil)

// TestRunsReportCommitStatuses: each pipeline a push starts reports
// pending for the pushed commit when its run starts, then how it ended.
func TestRunsReportCommitStatuses(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    jobs:
      ok: {run: "true"}
  lint:
    on: [push]
    jobs:
      bad: {run: "exit 1"}
`
	r := newRepo(t, yaml)
	statuses := &statusLog{}
	q, st := startQueueWith(t, r, parseT(t, yaml), func(o *QueueOptions) { o.Statuses = statuses })
	commit := r.commit(t, yaml+"# two\n")
	runs := push(t, q, r, commit)
	if len(runs) != 2 {
		t.Fatalf("runs: %+v", runs)
	}
	for _, run := range runs {
		waitRun(t, st, run.ID, "success", "failed")
	}
	for pipeline, end := range map[string]string{"ci": "success", "lint": "failed"} {
		want := []string{pipeline + " " + commit + " pending", pipeline + " " + commit + " " + end}
		testkit.Eventually(t, 10*time.Second, pipeline+"'s statuses", func() bool { return slices.Equal(statuses.of(pipeline), want) })
	}
}

// TestServerRunsShareTheJobCache: two runs, each in its own worktree, of
// commits whose job inputs are the same: the second takes the job from
// the cache, with its artifacts; a changed input runs it again.
func TestServerRunsShareTheJobCache(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    jobs:
      build:
        run: "echo built >> ` + shared + `/builds; mkdir -p out; cp src.txt out/app"
        inputs: [src.txt]
        artifacts: [out/app]
      use: {needs: [build], run: "cat out/app"}
`
	r := newRepo(t, yaml)
	write := func(text string) string {
		t.Helper()
		if err := os.WriteFile(filepath.Join(r.dir, "src.txt"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return r.commit(t, yaml)
	}
	q, st := startQueue(t, r, parseT(t, yaml))
	jobStatus := func(id int64, job string) string {
		t.Helper()
		_, jobs, err := st.GetRun(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			if j.Name == job {
				return j.Status
			}
		}
		return ""
	}
	builds := func() int {
		b, _ := os.ReadFile(filepath.Join(shared, "builds"))
		return strings.Count(string(b), "built")
	}

	first := push(t, q, r, write("v1\n"))[0]
	waitRun(t, st, first.ID, "success", "failed")
	second := push(t, q, r, r.commit(t, yaml+"# not an input\n"))[0]
	if got := waitRun(t, st, second.ID, "success", "failed"); got.Status != "success" {
		t.Fatalf("second run: %+v", got)
	}
	if s := jobStatus(second.ID, "build"); s != "cached" || builds() != 1 {
		t.Errorf("second run's build: %s after %d builds, want cached after 1", s, builds())
	}
	third := push(t, q, r, write("v2\n"))[0]
	waitRun(t, st, third.ID, "success", "failed")
	if s := jobStatus(third.ID, "build"); s != "success" || builds() != 2 {
		t.Errorf("with a changed input, build: %s after %d builds", s, builds())
	}
}
