package trigger

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

const sha1, sha2 = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"

func load(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tug.yaml", []byte(yaml), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEachTriggerStartsExactlyItsPipelines: every kind of push starts the
// pipelines whose on: matches it, and nothing else.
func TestEachTriggerStartsExactlyItsPipelines(t *testing.T) {
	t.Parallel()
	cfg := load(t, `version: 1
pipelines:
  anypush: {on: [push], jobs: {a: {run: "true"}}}
  main:    {on: [{branch: main}], jobs: {a: {run: "true"}}}
  release: {on: [{branch: "release/*"}, {tag: "v*"}], jobs: {a: {run: "true"}}}
  anytag:  {on: [tag], jobs: {a: {run: "true"}}}
  nightly: {on: [{schedule: "@daily", timezone: UTC}], jobs: {a: {run: "true"}}}
  byhand:  {on: [manual], jobs: {a: {run: "true"}}}
  none:    {jobs: {a: {run: "true"}}}
`)
	for _, tc := range []struct {
		push Push
		want []string
	}{
		{Push{Ref: "refs/heads/main", Old: sha1, New: sha2}, []string{"anypush", "main"}},
		{Push{Ref: "refs/heads/feature", New: sha2}, []string{"anypush"}},
		{Push{Ref: "refs/heads/release/1.2", New: sha2}, []string{"anypush", "release"}},
		{Push{Ref: "refs/tags/v1.2.0", New: sha2}, []string{"release", "anytag"}},
		{Push{Ref: "refs/tags/nightly-3", New: sha2}, []string{"anytag"}},
		{Push{Ref: "refs/heads/main", Old: sha1}, nil},                                                  // deleted
		{Push{Ref: "refs/heads/main", Old: sha1, New: "0000000000000000000000000000000000000000"}, nil}, // deleted, as forges say it
		{Push{Ref: "refs/notes/commits", New: sha2}, nil},
	} {
		if got := Pipelines(cfg, tc.push); !slices.Equal(got, tc.want) {
			t.Errorf("%s: pipelines %v, want %v", tc.push.Ref, got, tc.want)
		}
	}
	var fired []string
	entries := Schedules(cfg, func(p string, _ time.Time) { fired = append(fired, p) })
	if len(entries) != 1 || entries[0].Name != "pipeline/nightly/0" {
		t.Fatalf("schedule entries: %+v", entries)
	}
	entries[0].Fire(context.Background(), time.Now())
	if !slices.Equal(fired, []string{"nightly"}) {
		t.Errorf("fired %v", fired)
	}
}

// TestScheduleTimezone: a schedule's times are read in its time zone.
func TestScheduleTimezone(t *testing.T) {
	t.Parallel()
	spec, err := config.Trigger{Schedule: "0 3 * * *", Timezone: "Asia/Tokyo"}.ScheduleSpec()
	if err != nil {
		t.Fatal(err)
	}
	next := spec.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 1, 1, 18, 0, 0, 0, time.UTC); !next.Equal(want) {
		t.Errorf("next 03:00 Tokyo = %s, want %s", next.UTC(), want)
	}
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestWatcherSeesPushesWithoutPolling: a push into a bare repository, a
// new tag and a branch named a/b are reported once each, by the refs'
// files changing; refs moved while nothing watched are reported at the
// next start.
func TestWatcherSeesPushesWithoutPolling(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bare := filepath.Join(dir, "origin.git")
	gitT(t, dir, "init", "-q", "--bare", bare)
	work := filepath.Join(dir, "work")
	gitT(t, dir, "init", "-q", "-b", "main", work)
	gitT(t, work, "commit", "-q", "--allow-empty", "-m", "one")
	gitT(t, work, "push", "-q", bare, "main")

	var mu sync.Mutex
	var got []Push
	w := &Watcher{GitDir: bare, StateFile: filepath.Join(dir, "refs.json"), Debounce: 5 * time.Millisecond,
		OnPush: func(_ context.Context, p []Push) { mu.Lock(); got = append(got, p...); mu.Unlock() }}
	seen := func() []Push { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, ready) }()
	<-ready

	gitT(t, work, "commit", "-q", "--allow-empty", "-m", "two")
	gitT(t, work, "push", "-q", bare, "main")
	testkit.Eventually(t, 10*time.Second, "the push to main", func() bool { return len(seen()) == 1 })
	if p := seen()[0]; p.Ref != "refs/heads/main" || p.Event() != config.EventPush || p.Old == "" || p.New == p.Old {
		t.Fatalf("push: %+v", p)
	}
	gitT(t, work, "tag", "-a", "-m", "v1", "v1.0")
	gitT(t, work, "push", "-q", bare, "v1.0", "main:feature/x")
	testkit.Eventually(t, 10*time.Second, "the tag and the new branch", func() bool { return len(seen()) == 3 })
	refs := map[string]string{}
	for _, p := range seen()[1:] {
		refs[p.Ref] = p.New
	}
	head := gitT(t, work, "rev-parse", "HEAD")
	if refs["refs/tags/v1.0"] != head[:40] || refs["refs/heads/feature/x"] != head[:40] {
		t.Errorf("tag and branch: %v (head %s)", refs, head)
	}
	cancel()
	<-done

	// While nothing watches, main moves; the next start reports it.
	gitT(t, work, "commit", "-q", "--allow-empty", "-m", "three")
	gitT(t, work, "push", "-q", bare, "main")
	ctx, cancel = context.WithCancel(context.Background())
	// The watcher writes its state file in dir: it must have stopped
	// before the test's directory is removed.
	done2 := make(chan struct{})
	defer func() { cancel(); <-done2 }()
	go func() { defer close(done2); _ = w.Run(ctx, nil) }()
	testkit.Eventually(t, 10*time.Second, "the push made while down", func() bool { return len(seen()) == 4 })
	if p := seen()[3]; p.Ref != "refs/heads/main" {
		t.Errorf("missed push: %+v", p)
	}
}
