package pipeline

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// recorder is an Observer keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []Event
	inCall bool
	t      *testing.T
}

func (r *recorder) Observe(ev Event) {
	r.mu.Lock()
	if r.inCall {
		r.t.Error("Observe called concurrently")
	}
	r.inCall = true
	ev.Jobs = slices.Clone(ev.Jobs)
	r.events = append(r.events, ev)
	r.inCall = false
	r.mu.Unlock()
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// find returns the events of a type for a job ("" for any job).
func (r *recorder) find(typ EventType, job string) []Event {
	var out []Event
	for _, ev := range r.all() {
		if ev.Type == typ && (job == "" || ev.Job == job) {
			out = append(out, ev)
		}
	}
	return out
}

func (r *recorder) logs(job string) []string {
	var out []string
	for _, ev := range r.find(EventJobLog, job) {
		out = append(out, ev.Line)
	}
	return out
}

type testRun struct {
	opts Options
	ro   RunOptions
	rec  *recorder
}

func newTestRun(t *testing.T) *testRun {
	rec := &recorder{t: t}
	return &testRun{
		opts: Options{Executor: &Host{}, Parallel: 4, Observer: rec, KillGrace: 2 * time.Second},
		ro:   RunOptions{RunID: "r1", Dir: t.TempDir(), Context: RunContext{Branch: "main", Event: "push"}},
		rec:  rec,
	}
}

func (tr *testRun) run(t *testing.T, ctx context.Context, plan *Plan) *Result {
	t.Helper()
	res, err := New(tr.opts).Run(ctx, plan, tr.ro)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.rec.find(EventRunFinished, "")); n != 1 {
		t.Fatalf("%d run_finished events", n)
	}
	return res
}

func jobResult(t *testing.T, res *Result, name string) JobResult {
	t.Helper()
	for _, j := range res.Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no result for %s", name)
	return JobResult{}
}

func finishedAt(t *testing.T, rec *recorder, job string) time.Time {
	t.Helper()
	evs := rec.find(EventJobFinished, job)
	if len(evs) != 1 {
		t.Fatalf("%s: %d job_finished events", job, len(evs))
	}
	return evs[0].Time
}

func TestReadyQueueStartsJobsAsSoonAsTheirNeedsEnd(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"slow", &config.Job{Run: "sleep 2"}},
		jdef{"fast", &config.Job{Run: "true"}},
		jdef{"after-fast", &config.Job{Needs: []string{"fast"}, Run: "true"}},
	))
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess {
		t.Fatalf("status %s: %+v", res.Status, res.Jobs)
	}
	if after, slow := finishedAt(t, tr.rec, "after-fast"), finishedAt(t, tr.rec, "slow"); !after.Before(slow) {
		t.Fatalf("after-fast finished at %v, not before slow (%v): scheduled level by level", after, slow)
	}
}

func TestParallelBound(t *testing.T) {
	t.Parallel()
	// With room for 4, four jobs run at once: each waits (bounded) until
	// all four have started, which fails unless they overlap.
	var jobs []jdef
	for i := range 4 {
		jobs = append(jobs, jdef{fmt.Sprintf("j%d", i), &config.Job{Run: "touch started.$$; " +
			"for i in $(seq 2000); do [ $(ls started.* | wc -l) -ge 4 ] && exit 0; sleep 0.01; done; exit 1"}})
	}
	tr := newTestRun(t)
	tr.opts.Parallel = 4
	if res := tr.run(t, context.Background(), mustPlan(t, testConfig(nil, nil, jobs...))); res.Status != StatusSuccess {
		t.Fatalf("parallel 4: status %s: the four jobs did not run at once", res.Status)
	}

	// With room for 1, no job starts before the one running finished.
	jobs = nil
	for i := range 4 {
		jobs = append(jobs, jdef{fmt.Sprintf("j%d", i), &config.Job{Run: "true"}})
	}
	tr = newTestRun(t)
	tr.opts.Parallel = 1
	if res := tr.run(t, context.Background(), mustPlan(t, testConfig(nil, nil, jobs...))); res.Status != StatusSuccess {
		t.Fatalf("parallel 1: status %s", res.Status)
	}
	running, most := 0, 0
	for _, ev := range tr.rec.all() {
		switch ev.Type {
		case EventJobStarted:
			running++
			most = max(most, running)
		case EventJobFinished:
			running--
		}
	}
	if most != 1 {
		t.Fatalf("parallel 1: %d jobs ran at once", most)
	}
}

func TestStagesOrderJobsWithoutNeeds(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig([]string{"build", "test"}, nil,
		jdef{"test", &config.Job{Stage: "test", Run: "test -f built"}},
		jdef{"build", &config.Job{Stage: "build", Run: "sleep 0.3; touch built"}},
	))
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess {
		t.Fatalf("status %s: %+v (test ran before build?)", res.Status, res.Jobs)
	}
}

func TestFailureSkipsDependentsUnlessAllowed(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"broken", &config.Job{Run: "exit 3"}},
		jdef{"after-broken", &config.Job{Needs: []string{"broken"}, Run: "true"}},
		jdef{"transitive", &config.Job{Needs: []string{"after-broken"}, Run: "true"}},
		jdef{"flaky", &config.Job{Run: "exit 1", AllowFailure: true}},
		jdef{"after-flaky", &config.Job{Needs: []string{"flaky"}, Run: "true"}},
	))
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusFailed {
		t.Fatalf("run status %s, want failed", res.Status)
	}
	want := map[string]struct {
		status Status
		reason string
	}{
		"broken":       {StatusFailed, "exit code 3"},
		"after-broken": {StatusSkipped, "needs broken failed"},
		"transitive":   {StatusSkipped, "needs after-broken skipped"},
		"flaky":        {StatusFailed, "exit code 1"},
		"after-flaky":  {StatusSuccess, ""},
	}
	for name, w := range want {
		got := jobResult(t, res, name)
		if got.Status != w.status || got.Reason != w.reason {
			t.Errorf("%s: %s %q, want %s %q", name, got.Status, got.Reason, w.status, w.reason)
		}
	}
	ev := tr.rec.find(EventJobFinished, "broken")[0]
	if ev.ExitCode == nil || *ev.ExitCode != 3 {
		t.Errorf("job_finished exit code = %v", ev.ExitCode)
	}

	// Only an allowed failure: the run succeeds.
	tr2 := newTestRun(t)
	plan2 := mustPlan(t, testConfig(nil, nil, jdef{"flaky", &config.Job{Run: "exit 1", AllowFailure: true}}))
	if res := tr2.run(t, context.Background(), plan2); res.Status != StatusSuccess {
		t.Fatalf("allowed failure failed the run: %s", res.Status)
	}
}

func TestMatrixJobsSeeTheirValues(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"unit", &config.Job{Run: `echo "v=${{ matrix.go }} env=$MATRIX_GO x=$MATRIX_EXTRA"`, Matrix: &config.Matrix{
			Axes:      map[string][]string{"go": {"1.25", "1.26", "1.27"}},
			AxisOrder: []string{"go"},
			Exclude:   []map[string]string{{"go": "1.27"}},
			Include:   []map[string]string{{"go": "1.26", "extra": "yes"}},
		}}},
		jdef{"after", &config.Job{Needs: []string{"unit"}, Run: "true"}},
	))
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess || len(res.Jobs) != 3 {
		t.Fatalf("status %s, jobs %+v", res.Status, res.Jobs)
	}
	if got := tr.rec.logs("unit[go=1.25]"); !slices.Equal(got, []string{"v=1.25 env=1.25 x="}) {
		t.Errorf("unit[go=1.25] printed %q", got)
	}
	if got := tr.rec.logs("unit[go=1.26]"); !slices.Equal(got, []string{"v=1.26 env=1.26 x=yes"}) {
		t.Errorf("unit[go=1.26] printed %q", got)
	}
	started := tr.rec.find(EventRunStarted, "")[0].Jobs
	if !slices.Equal(started, []string{"unit[go=1.25]", "unit[go=1.26]", "after"}) {
		t.Errorf("run_started jobs = %v", started)
	}
}

func TestIfUsesRunContext(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, testConfig(nil, map[string]string{"TARGET": "prod"},
		jdef{"on-main", &config.Job{If: `branch == "main" && env.TARGET == "prod"`, Run: "true"}},
		jdef{"on-dev", &config.Job{If: `branch == "dev"`, Run: "true"}},
		jdef{"after-dev", &config.Job{Needs: []string{"on-dev"}, Run: "true"}},
	))
	for _, branch := range []string{"main", "dev"} {
		tr := newTestRun(t)
		tr.ro.Context.Branch = branch
		res := tr.run(t, context.Background(), plan)
		want := map[string]Status{"on-main": StatusSkipped, "on-dev": StatusSuccess, "after-dev": StatusSuccess}
		if branch == "main" {
			want = map[string]Status{"on-main": StatusSuccess, "on-dev": StatusSkipped, "after-dev": StatusSkipped}
		}
		for name, w := range want {
			if got := jobResult(t, res, name); got.Status != w {
				t.Errorf("branch %s: %s is %s (%s), want %s", branch, name, got.Status, got.Reason, w)
			}
		}
		if res.Status != StatusSuccess {
			t.Errorf("branch %s: run %s", branch, res.Status)
		}
	}
}

func TestWhen(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil, nil,
		jdef{"ok", &config.Job{Run: "true"}},
		jdef{"bad", &config.Job{Run: "false"}},
		jdef{"after-bad", &config.Job{Needs: []string{"bad"}, Run: "true"}},
		jdef{"cleanup-ok", &config.Job{Needs: []string{"ok"}, When: "on_failure", Run: "true"}},
		jdef{"cleanup-bad", &config.Job{Needs: []string{"after-bad"}, When: "on_failure", Run: "true"}},
		jdef{"always", &config.Job{Needs: []string{"bad"}, When: "always", Run: "true"}},
		jdef{"release", &config.Job{Needs: []string{"ok"}, When: "manual", Run: "echo released"}},
	)
	plan := mustPlan(t, cfg)
	tr := newTestRun(t)
	res := tr.run(t, context.Background(), plan)
	want := map[string]Status{
		"ok": StatusSuccess, "bad": StatusFailed, "after-bad": StatusSkipped,
		"cleanup-ok": StatusSkipped, "cleanup-bad": StatusSuccess, "always": StatusSuccess,
		"release": StatusSkipped,
	}
	for name, w := range want {
		if got := jobResult(t, res, name); got.Status != w {
			t.Errorf("%s is %s (%s), want %s", name, got.Status, got.Reason, w)
		}
	}
	if got := jobResult(t, res, "release").Reason; got != "manual job: run with --job release" {
		t.Errorf("manual reason %q", got)
	}
	if res.Status != StatusFailed {
		t.Errorf("run %s: an on_failure job succeeding must not clear the failure", res.Status)
	}

	// Named with --job, the manual job runs, with what it needs and nothing else.
	tr = newTestRun(t)
	tr.ro.Only = []string{"release"}
	res = tr.run(t, context.Background(), plan)
	var names []string
	for _, j := range res.Jobs {
		names = append(names, j.Name+"="+string(j.Status))
	}
	if !slices.Equal(names, []string{"ok=success", "release=success"}) || res.Status != StatusSuccess {
		t.Fatalf("--job release ran %v (%s)", names, res.Status)
	}
	if got := tr.rec.logs("release"); !slices.Equal(got, []string{"released"}) {
		t.Fatalf("release printed %q", got)
	}

	_, err := New(tr.opts).Run(context.Background(), plan, RunOptions{RunID: "x", Dir: t.TempDir(), Only: []string{"relase"}})
	if !errors.Is(err, ErrUnknownJob) || !strings.Contains(err.Error(), `did you mean "release"`) {
		t.Fatalf("unknown --job: err = %v", err)
	}
}

// processGone reports whether pid no longer runs (a zombie counts as gone:
// it waits for a reaper, it runs nothing).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var b []byte
	testkit.Eventually(t, 10*time.Second, "a pid in "+path, func() bool {
		var err error
		b, err = os.ReadFile(path)
		return err == nil && strings.HasSuffix(string(b), "\n")
	})
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	if !testkit.Poll(5*time.Second, func() bool { return processGone(pid) }) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d outlived its job", pid)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	pidFile := filepath.Join(tr.ro.Dir, "child.pid")
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"hang", &config.Job{Run: "sleep 30 &\necho $! > child.pid\nwait", Timeout: config.Duration(time.Second)}},
	))
	start := time.Now()
	res := tr.run(t, context.Background(), plan)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("timeout took %v", d)
	}
	got := jobResult(t, res, "hang")
	if got.Status != StatusFailed || got.Reason != "timed out after 1s" || res.Status != StatusFailed {
		t.Fatalf("job %s %q, run %s", got.Status, got.Reason, res.Status)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestHostKillsBackgroundChildrenAfterExit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "bg.pid")
	start := time.Now()
	code, err := (&Host{}).Exec(context.Background(), &ExecSpec{
		Job: "bg", Dir: dir, Env: []string{"PATH=" + os.Getenv("PATH")},
		Script: "sleep 1000 &\necho $! > bg.pid\necho started\n",
	}, io.Discard)
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Exec waited %v for a background child", d)
	}
	waitGone(t, readPid(t, pidFile))
}

func TestHostKillsAfterGraceWhenTermIsIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		readPid(t, filepath.Join(dir, "pid"))
		cancel()
	}()
	start := time.Now()
	code, err := (&Host{}).Exec(ctx, &ExecSpec{
		Job: "stubborn", Dir: dir, Env: []string{"PATH=" + os.Getenv("PATH")}, KillGrace: 300 * time.Millisecond,
		Script: "trap '' TERM\nsleep 30 &\necho $! > pid\nwait\n",
	}, io.Discard)
	if code != -1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("code %d err %v, want -1 and context.Canceled", code, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %v with a 300ms grace", d)
	}
	waitGone(t, readPid(t, filepath.Join(dir, "pid")))
}

func TestHostExitCodeAndOutput(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	code, err := (&Host{}).Exec(context.Background(), &ExecSpec{
		Job: "x", Dir: t.TempDir(), Env: []string{"PATH=" + os.Getenv("PATH"), "A=1"},
		Script: "echo out $A\necho err >&2\ntrue | true\necho piped\nfalse\necho not reached\n",
	}, &out)
	if err != nil || code != 1 {
		t.Fatalf("code %d err %v (want 1: -e stops at false)", code, err)
	}
	if out.String() != "out 1\nerr\npiped\n" {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	code, _ = (&Host{}).Exec(context.Background(), &ExecSpec{Job: "x", Dir: t.TempDir(), Script: "false | true\necho \"[$HOME]\"\n"}, &out)
	if code == 0 {
		t.Fatal("pipefail not set")
	}
	code, _ = (&Host{}).Exec(context.Background(), &ExecSpec{Job: "x", Dir: t.TempDir(), Script: "echo \"[${HOME:-}]\"\n"}, &out)
	if code != 0 || out.String() != "[]\n" {
		t.Fatalf("nil Env inherited the environment: %q", out.String())
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"flaky", &config.Job{Retry: 2, Run: `n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo "try $n"; [ $n -ge 3 ]`}},
		jdef{"hopeless", &config.Job{Retry: 1, Run: "echo nope; exit 7"}},
	))
	res := tr.run(t, context.Background(), plan)
	flaky := jobResult(t, res, "flaky")
	if flaky.Status != StatusSuccess || flaky.Attempts != 3 {
		t.Fatalf("flaky: %s after %d attempts", flaky.Status, flaky.Attempts)
	}
	var attempts []int
	for _, ev := range tr.rec.find(EventJobStarted, "flaky") {
		attempts = append(attempts, ev.Attempt)
	}
	if !slices.Equal(attempts, []int{1, 2, 3}) {
		t.Fatalf("job_started attempts %v", attempts)
	}
	var tries []string
	for _, ev := range tr.rec.find(EventJobLog, "flaky") {
		if strings.HasPrefix(ev.Line, "try ") {
			tries = append(tries, fmt.Sprintf("%d:%s", ev.Attempt, ev.Line))
		}
	}
	if !slices.Equal(tries, []string{"1:try 1", "2:try 2", "3:try 3"}) {
		t.Fatalf("log attempts %v", tries)
	}
	if fin := tr.rec.find(EventJobFinished, "flaky"); len(fin) != 1 || fin[0].Attempt != 3 {
		t.Fatalf("job_finished %+v", fin)
	}
	hopeless := jobResult(t, res, "hopeless")
	if hopeless.Status != StatusFailed || hopeless.Attempts != 2 || hopeless.ExitCode != 7 {
		t.Fatalf("hopeless: %+v", hopeless)
	}
}

func TestCancellationStopsRunningJobs(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	tr.opts.Parallel = 1
	dir := tr.ro.Dir
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"long", &config.Job{Run: "trap 'echo got-term > term; exit 1' TERM\nsleep 30 &\necho $! > child.pid\nwait"}},
		jdef{"queued", &config.Job{Run: "touch queued-ran"}},
		jdef{"after", &config.Job{Needs: []string{"long"}, Run: "touch after-ran"}},
	))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		readPid(t, filepath.Join(dir, "child.pid"))
		cancel()
	}()
	start := time.Now()
	res := tr.run(t, ctx, plan)
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if res.Status != StatusCancelled {
		t.Fatalf("run status %s", res.Status)
	}
	for _, name := range []string{"long", "queued", "after"} {
		if got := jobResult(t, res, name); got.Status != StatusCancelled {
			t.Errorf("%s is %s, want cancelled", name, got.Status)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "term")); err != nil || string(b) != "got-term\n" {
		t.Fatalf("job got no SIGTERM: %v", err)
	}
	for _, f := range []string{"queued-ran", "after-ran"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: a job started after cancellation", f)
		}
	}
	waitGone(t, readPid(t, filepath.Join(dir, "child.pid")))
}

func TestSecretsNeverReachEvents(t *testing.T) {
	t.Parallel()
	const plain = "pa55word/with+special&chars"
	tr := newTestRun(t)
	tr.ro.Secrets = map[string]secret.Value{"TOKEN": secret.New(plain), "OTHER": secret.New("unused-but-masked")}
	b64 := base64.StdEncoding.EncodeToString([]byte(plain))
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"leaky", &config.Job{Secrets: []string{"TOKEN"}, Run: strings.Join([]string{
			`echo "plain $TOKEN"`,
			`printf '%s' "$TOKEN" | base64 -w0; echo`,
			`printf 'user:%s' "$TOKEN" | base64 -w0; echo`,
			`printf '%s' "$TOKEN" | basenc --base64url -w0; echo`,
			`echo "query ` + url.QueryEscape(plain) + `"`,
			`echo "path ` + url.PathEscape(plain) + `"`,
			`printf 'split %s' "${TOKEN:0:5}"; sleep 0.2; printf '%s\n' "${TOKEN:5}"`,
			`printf 'no newline %s' "$TOKEN" >&2`,
			`[ "$TOKEN" = "` + plain + `" ] || { echo "env lost the value"; exit 1; }`,
			`[ -z "${OTHER:-}" ] || { echo "got a secret it did not ask for"; exit 1; }`,
			`echo "$TOKEN" >&2; exit 4`,
		}, "\n")}},
	))
	res := tr.run(t, context.Background(), plan)
	if got := jobResult(t, res, "leaky"); got.ExitCode != 4 {
		t.Fatalf("job ended %+v; logs %q", got, tr.rec.logs("leaky"))
	}
	js, err := json.Marshal(tr.rec.all())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(js), "***"); n < 8 {
		t.Fatalf("only %d masks in events: %s", n, js)
	}
	for _, leak := range []string{plain, b64, b64[4:16], url.QueryEscape(plain), url.PathEscape(plain),
		base64.URLEncoding.EncodeToString([]byte(plain))[:16]} {
		if strings.Contains(string(js), leak) {
			t.Fatalf("secret form %q leaked into events: %s", leak, js)
		}
	}
}

func TestJobEnvironment(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	outside := map[string]string{"PATH": os.Getenv("PATH"), "HOME": "/home/x", "AWS_SECRET_ACCESS_KEY": "leak", "TUG_RUN_ID": "spoof"}
	tr.opts.LookupEnv = func(k string) (string, bool) { v, ok := outside[k]; return v, ok }
	tr.ro.Context = RunContext{Branch: "main", Tag: "v1", Commit: "abc", Event: "push"}
	plan := mustPlan(t, testConfig(nil, map[string]string{"P": "1", "TUG_JOB": "spoof"},
		jdef{"show", &config.Job{Env: map[string]string{"J": "2"}, Run: `env | sort | grep -E '^(HOME|AWS_[A-Z_]*|P|J|CI|TUG_[A-Z_]*)='`}},
	))
	tr.run(t, context.Background(), plan)
	got := tr.rec.logs("show")
	want := []string{"CI=true", "HOME=/home/x", "J=2", "P=1", "TUG_BRANCH=main", "TUG_COMMIT=abc", "TUG_EVENT=push",
		"TUG_JOB=show", "TUG_JOB_BASE=show", "TUG_PIPELINE=ci", "TUG_RUN_ID=r1", "TUG_TAG=v1", "TUG_WORKSPACE=" + tr.ro.Dir}
	if !slices.Equal(got, want) {
		t.Fatalf("env\n got %q\nwant %q", got, want)
	}
}

func TestMissingSecretFailsJob(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	plan := mustPlan(t, testConfig(nil, nil, jdef{"a", &config.Job{Secrets: []string{"NOPE"}, Run: "true"}}))
	res := tr.run(t, context.Background(), plan)
	if got := jobResult(t, res, "a"); got.Status != StatusFailed || !strings.Contains(got.Reason, "NOPE") {
		t.Fatalf("%+v", got)
	}
}

type fakeDeployer struct {
	mu    sync.Mutex
	calls []string
}

func (d *fakeDeployer) Deploy(ctx context.Context, req DeployRequest, out io.Writer) error {
	d.mu.Lock()
	d.calls = append(d.calls, req.Service+"@"+req.Environment+"@"+req.Revision)
	d.mu.Unlock()
	req.Waiting("needs approval: tug approve r1")
	req.Resumed()
	fmt.Fprintf(out, "deploying %s\n", req.Service)
	return nil
}

func TestDeployAndContainerJobs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil, nil,
		jdef{"ship", &config.Job{Deploy: &config.JobDeploy{Service: "web", Environment: "staging"}}},
		jdef{"boxed", &config.Job{Image: "alpine:local", Run: "true"}},
	)
	plan := mustPlan(t, cfg)
	tr := newTestRun(t)
	res := tr.run(t, context.Background(), plan)
	if got := jobResult(t, res, "ship"); got.Status != StatusFailed || !strings.Contains(got.Reason, "tug server") {
		t.Errorf("deploy without deployer: %+v", got)
	}
	if got := jobResult(t, res, "boxed"); got.Status != StatusFailed || !strings.Contains(got.Reason, "container executor") {
		t.Errorf("image job without container executor: %+v", got)
	}

	tr = newTestRun(t)
	d := &fakeDeployer{}
	tr.opts.Deployer = d
	tr.ro.Only = []string{"ship"}
	tr.ro.Context.Commit = "abc123"
	res = tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess || !slices.Equal(d.calls, []string{"web@staging@abc123"}) || !slices.Equal(tr.rec.logs("ship"), []string{"deploying web"}) {
		t.Fatalf("deploy: %s %v %q", res.Status, d.calls, tr.rec.logs("ship"))
	}
	// A deploy waiting for approval is a waiting job until it goes on.
	if w := tr.rec.find(EventJobWaiting, "ship"); len(w) != 1 || w[0].Status != StatusWaiting || !strings.Contains(w[0].Reason, "tug approve r1") {
		t.Errorf("waiting events: %+v", w)
	}
	if r := tr.rec.find(EventJobResumed, "ship"); len(r) != 1 {
		t.Errorf("resumed events: %+v", r)
	}
}

// fakeCache records calls and answers lookups from hits.
type fakeCache struct {
	mu       sync.Mutex
	hits     map[string]string // job -> stored log
	lookups  []*CacheRequest
	saves    map[string]string // job -> saved log
	restores []string
}

func (c *fakeCache) Lookup(ctx context.Context, req *CacheRequest) (*CacheResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lookups = append(c.lookups, req)
	key := "key-" + req.Job.Name
	if log, ok := c.hits[req.Job.Name]; ok && !req.NoCache {
		return &CacheResult{Info: CacheInfo{Key: key, Hit: true}, Log: []byte(log)}, nil
	}
	return &CacheResult{Info: CacheInfo{Key: key, Miss: "no entry"}}, nil
}

func (c *fakeCache) Save(ctx context.Context, req *CacheRequest, log []byte) (*CacheInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saves[req.Job.Name] = string(log)
	return &CacheInfo{Key: "key-" + req.Job.Name, Evicted: []string{"old"}}, nil
}

func (c *fakeCache) Restore(ctx context.Context, runID, job, dir string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restores = append(c.restores, runID+":"+job)
	return nil
}

func TestCacheProtocol(t *testing.T) {
	t.Parallel()
	tr := newTestRun(t)
	c := &fakeCache{hits: map[string]string{"build": "cached output\n"}, saves: map[string]string{}}
	tr.opts.Cache = c
	tr.ro.Secrets = map[string]secret.Value{"TOKEN": secret.New("tok-value")}
	plan := mustPlan(t, testConfig(nil, nil,
		jdef{"build", &config.Job{Inputs: []string{"*.go"}, Run: "touch build-ran"}},
		jdef{"test", &config.Job{Needs: []string{"build"}, Inputs: []string{"*.go"}, Secrets: []string{"TOKEN"}, Run: "echo tested $TOKEN"}},
		jdef{"plain", &config.Job{Needs: []string{"test"}, Run: "echo plain"}},
	))
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess {
		t.Fatalf("%+v", res.Jobs)
	}
	build := jobResult(t, res, "build")
	if build.Status != StatusCached || build.Cache == nil || !build.Cache.Hit {
		t.Fatalf("build: %+v", build)
	}
	if _, err := os.Stat(filepath.Join(tr.ro.Dir, "build-ran")); err == nil {
		t.Fatal("cached job ran")
	}
	if got := tr.rec.logs("build"); !slices.Equal(got, []string{"cached output"}) {
		t.Fatalf("cached log replay %q", got)
	}
	if len(c.lookups) != 2 {
		t.Fatalf("%d lookups, want 2 (plain has no inputs)", len(c.lookups))
	}
	req := c.lookups[1]
	if req.Job.Name != "test" || req.Upstream["build"] != "key-build" || !req.Cacheable || req.RunID != "r1" {
		t.Fatalf("test lookup %+v", req)
	}
	if h := req.SecretHashes["TOKEN"]; len(h) != 64 || strings.Contains(h, "tok-value") {
		t.Fatalf("secret hash %q", h)
	}
	if c.saves["test"] != "tested ***\n" || c.saves["plain"] != "plain\n" {
		t.Fatalf("saved logs %q", c.saves)
	}
	if _, ok := c.saves["build"]; ok {
		t.Fatal("a cache hit was saved again")
	}
	if !slices.Equal(c.restores, []string{"r1:build", "r1:test"}) {
		t.Fatalf("restores %v", c.restores)
	}
	test := jobResult(t, res, "test")
	if test.Cache == nil || test.Cache.Miss != "no entry" || !slices.Equal(test.Cache.Evicted, []string{"old"}) {
		t.Fatalf("test cache info %+v", test.Cache)
	}
	if ev := tr.rec.find(EventJobFinished, "test")[0]; ev.Cache == nil || ev.Cache.Key != "key-test" {
		t.Fatalf("job_finished cache %+v", ev.Cache)
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	t.Parallel()
	plan := mustPlan(t, testConfig(nil, nil, jdef{"a", &config.Job{Run: "true"}}))
	for name, tc := range map[string]struct {
		e  *Engine
		ro RunOptions
	}{
		"no executor": {New(Options{}), RunOptions{RunID: "r", Dir: "."}},
		"no run id":   {New(Options{Executor: &Host{}}), RunOptions{Dir: "."}},
		"no dir":      {New(Options{Executor: &Host{}}), RunOptions{RunID: "r"}},
	} {
		if _, err := tc.e.Run(context.Background(), plan, tc.ro); !errors.Is(err, ErrBadRun) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
