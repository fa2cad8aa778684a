package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
)

// sizedJob has a small artifact and saves a big, unique log, so evicting
// its entry frees the log while the run keeps the artifact.
func (f *fixture) sizedJob(name, run string) *pipeline.CacheRequest {
	f.write(name+"/in.txt", "input of "+name, 0o644)
	return f.req(run, job(name, &config.Job{Inputs: []string{name + "/*"}, Artifacts: []string{"out/" + name}}))
}

func (f *fixture) runSized(name, run string) *pipeline.CacheResult {
	f.t.Helper()
	f.clk.Advance(time.Minute)
	return f.run(f.sizedJob(name, run), strings.Repeat(name+" log line\n", 200), func() {
		f.write("out/"+name, "artifact of "+name, 0o644)
	})
}

func blobBytes(t *testing.T, f *fixture) (n int64, names []string) {
	t.Helper()
	filepath.WalkDir(f.c.blobs.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			n += fi.Size()
			names = append(names, d.Name())
		}
		return err
	})
	return n, names
}

func TestEvictionIsLRUReportedAndKeepsRunArtifacts(t *testing.T) {
	t.Parallel()
	// Each log is ~2.2 KB; three entries do not fit in 6000 bytes.
	f := newFixture(t, Options{MaxSize: 6000})
	ctx := context.Background()
	a := f.runSized("a", "r1")
	b := f.runSized("b", "r2")
	if len(a.Info.Evicted)+len(b.Info.Evicted) != 0 {
		t.Fatalf("evicted too early: %v %v", a.Info.Evicted, b.Info.Evicted)
	}
	// Using a makes b the least recently used.
	f.clk.Advance(time.Minute)
	if res := f.lookup(f.sizedJob("a", "r3")); !res.Info.Hit {
		t.Fatalf("a: %+v", res.Info)
	}
	c := f.runSized("c", "r4")
	if want := []string{"b@" + b.Info.Key[:12]}; !slices.Equal(c.Info.Evicted, want) {
		t.Fatalf("evicted %v, want %v", c.Info.Evicted, want)
	}
	if n, _ := blobBytes(t, f); n > 6000 {
		t.Fatalf("store holds %d bytes after eviction", n)
	}
	list, err := f.c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, e := range list {
		jobs = append(jobs, e.Job)
	}
	if !slices.Equal(jobs, []string{"c", "a"}) {
		t.Fatalf("entries after eviction %v", jobs)
	}

	// The evicted key misses cleanly and says why.
	res := f.lookup(f.sizedJob("b", "r5"))
	if res.Info.Hit || res.Info.Key != b.Info.Key || res.Info.Miss != "entry no longer cached (evicted or pruned)" {
		t.Fatalf("evicted lookup %+v", res.Info)
	}
	// Run r2 still has b's artifact, though its entry is gone.
	dir := t.TempDir()
	if err := f.c.Restore(ctx, "r2", "b", dir); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "out", "b")); string(data) != "artifact of b" {
		t.Fatalf("run artifact after eviction %q", data)
	}
}

func TestEvictionNeverDropsTheEntryJustSaved(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxSize: 100})
	a := f.runSized("a", "r1")
	b := f.runSized("b", "r2")
	if !slices.Equal(b.Info.Evicted, []string{"a@" + a.Info.Key[:12]}) {
		t.Fatalf("evicted %v", b.Info.Evicted)
	}
	if res := f.lookup(f.sizedJob("b", "r3")); !res.Info.Hit {
		t.Fatalf("just-saved entry gone: %+v", res.Info)
	}
}

func TestEvictionDropsOldRunsBeyondKeepRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxSize: 1, KeepRuns: 2})
	f.runSized("a", "r1")
	f.runSized("b", "r2")
	c := f.runSized("c", "r3")
	if !slices.Contains(c.Info.Evicted, "artifacts of run r1") {
		t.Fatalf("evicted %v", c.Info.Evicted)
	}
	if _, err := f.c.Artifacts(context.Background(), "r1", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("r1 artifacts survive: %v", err)
	}
	for _, run := range []string{"r2", "r3"} {
		if _, err := f.c.Artifacts(context.Background(), run, ""); err != nil {
			t.Fatalf("%s: %v", run, err)
		}
	}
}

func TestLeftoverTempFilesAreIgnoredAndCleaned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	first := f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	key := first.Info.Key
	temps := []string{
		filepath.Join(f.c.root, "entries", kit.TempPrefix+"123"),
		filepath.Join(f.c.root, "jobs", kit.TempPrefix+"456"),
		filepath.Join(f.c.blobs.dir, key[:2], kit.TempPrefix+"789"),
		filepath.Join(f.state, "artifacts", "r1", kit.TempPrefix+"000"),
	}
	for _, p := range temps {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(`{"key": "half a fi`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-write of an entry leaves a torn file under the final
	// name only if rename was not atomic; simulate a damaged entry too.
	bad := strings.Repeat("b", 64)
	os.WriteFile(f.c.entryPath(bad), []byte(`{"key":`), 0o644)

	list, err := f.c.List(context.Background())
	if err != nil || len(list) != 1 || list[0].Key != key {
		t.Fatalf("list with leftovers: %+v %v", list, err)
	}
	if res := f.lookup(f.req("r2", buildJob())); !res.Info.Hit {
		t.Fatalf("lookup with leftovers: %+v", res.Info)
	}
	if arts, err := f.c.Artifacts(context.Background(), "r1", ""); err != nil || len(arts) != 2 {
		t.Fatalf("artifacts with leftovers: %v %v", arts, err)
	}
	res, err := f.c.Prune(context.Background(), PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 0 {
		t.Fatalf("plain prune removed entries %v", res.Entries)
	}
	for _, p := range append(temps, f.c.entryPath(bad)) {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived prune: %v", p, err)
		}
	}
	if res := f.lookup(f.req("r3", buildJob())); !res.Info.Hit {
		t.Fatalf("prune broke the entry: %+v", res.Info)
	}
}

func TestDamagedEntryMissesCleanly(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	first := f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	os.WriteFile(f.c.entryPath(first.Info.Key), []byte("{not json"), 0o644)
	res := f.lookup(f.req("r2", buildJob()))
	if res.Info.Hit || res.Info.Miss != "cache entry unreadable" {
		t.Fatalf("%+v", res.Info)
	}
	// A missing blob: a miss that names it, and the job can re-save.
	f.run(f.req("r3", buildJob()), "log", f.produce("v1"))
	e, err := f.c.readEntry(first.Info.Key)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(f.c.blobs.path(e.Artifacts[0].Blob))
	os.RemoveAll(filepath.Join(f.ws, "bin"))
	res = f.lookup(f.req("r4", buildJob()))
	if res.Info.Hit || !strings.HasPrefix(res.Info.Miss, "cached artifacts not restorable") {
		t.Fatalf("%+v", res.Info)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	old := f.runSized("old", "r1")
	f.clk.Advance(10 * 24 * time.Hour)
	f.runSized("new", "r2")
	res, err := f.c.Prune(ctx, PruneOptions{OlderThan: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Entries, []string{"old@" + old.Info.Key[:12]}) || !slices.Equal(res.Runs, []string{"r1"}) || res.Blobs == 0 || res.Freed == 0 {
		t.Fatalf("prune older: %+v", res)
	}
	if list, _ := f.c.List(ctx); len(list) != 1 || list[0].Job != "new" {
		t.Fatalf("left %+v", list)
	}
	res, err = f.c.Prune(ctx, PruneOptions{All: true})
	if err != nil || len(res.Entries) != 1 || !slices.Equal(res.Runs, []string{"r2"}) {
		t.Fatalf("prune all: %+v %v", res, err)
	}
	if n, names := blobBytes(t, f); n != 0 {
		t.Fatalf("blobs left after prune --all: %v", names)
	}
	if r := f.lookup(f.sizedJob("new", "r3")); r.Info.Miss != "no previous run" {
		t.Fatalf("after prune --all: %+v", r.Info)
	}
}

func TestEmptyRunRecordCountsAsNothingRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	// What an OS crash can leave of a hit's unsynced record.
	p := f.c.runManifestPath("r1", "build")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.c.Restore(ctx, "r1", "build", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Artifacts(ctx, "r1", "build"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job: %v", err)
	}
	if _, err := f.c.Artifacts(ctx, "r1", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("run: %v", err)
	}
	if _, err := f.c.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
}
