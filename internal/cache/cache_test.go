package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

func buildJob() *pipeline.Job {
	return job("build", &config.Job{
		Run:       "go build -o bin/app ./src",
		Inputs:    []string{"src/**/*.go", "go.mod"},
		Artifacts: []string{"bin/app", "out/**"},
		Env:       map[string]string{"GOFLAGS": "-mod=readonly"},
	})
}

func (f *fixture) buildWorkspace() {
	f.write("go.mod", "module x\n", 0o644)
	f.write("src/a.go", "package main\n// a\n", 0o644)
	f.write("src/b.go", "package main\n// b\n", 0o644)
	f.write("src/README", "not an input\n", 0o644)
}

// produce stands for the build: it writes the artifacts.
func (f *fixture) produce(version string) func() {
	return func() {
		f.write("bin/app", "\x7fELF binary "+version, 0o755)
		f.write("out/data/report.txt", "report "+version, 0o640)
	}
}

func TestUnchangedRerunHitsAndRestoresArtifacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	first := f.run(f.req("r1", buildJob()), "compiled ok\n", f.produce("v1"))
	if first.Info.Hit || first.Info.Miss != "no previous run" || len(first.Info.Key) != 64 {
		t.Fatalf("first run: %+v", first.Info)
	}
	wantApp, wantAppMode := f.read("bin/app")
	wantRep, wantRepMode := f.read("out/data/report.txt")
	if err := os.RemoveAll(filepath.Join(f.ws, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(f.ws, "out")); err != nil {
		t.Fatal(err)
	}

	second := f.lookup(f.req("r2", buildJob()))
	if !second.Info.Hit || second.Info.Key != first.Info.Key || second.Info.Miss != "" {
		t.Fatalf("second lookup: %+v", second.Info)
	}
	if string(second.Log) != "compiled ok\n" {
		t.Fatalf("stored log %q", second.Log)
	}
	for _, c := range []struct {
		rel, want string
		mode      os.FileMode
	}{{"bin/app", wantApp, wantAppMode}, {"out/data/report.txt", wantRep, wantRepMode}} {
		got, mode := f.read(c.rel)
		if got != c.want || mode != c.mode {
			t.Errorf("%s restored as %q %v, want %q %v", c.rel, got, mode, c.want, c.mode)
		}
	}
	if wantAppMode != 0o755 || wantRepMode != 0o640 {
		t.Fatalf("fixture modes %v %v", wantAppMode, wantRepMode)
	}

	// The hit counts as run r2's artifacts: a downstream job can get them.
	other := t.TempDir()
	if err := f.c.Restore(context.Background(), "r2", "build", other); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(other, "bin", "app"))
	if err != nil || string(data) != wantApp {
		t.Fatalf("restore into other dir: %q %v", data, err)
	}
	arts, err := f.c.Artifacts(context.Background(), "r2", "build")
	if err != nil || len(arts) != 2 || arts[0].Path != "bin/app" || arts[0].Mode != 0o755 {
		t.Fatalf("artifacts of r2: %+v %v", arts, err)
	}
}

func TestRestoreOfJobWithoutArtifactsDoesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	if err := f.c.Restore(context.Background(), "r1", "lint", t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.Artifacts(context.Background(), "r1", "lint"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("artifacts of unknown job: %v", err)
	}
	if _, err := f.c.Artifacts(context.Background(), "nope", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("artifacts of unknown run: %v", err)
	}
}

func TestMissExplainsExactlyWhatChanged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(f *fixture, j *pipeline.Job, req *pipeline.CacheRequest)
		want   []string
	}{
		{"input changed", func(f *fixture, _ *pipeline.Job, _ *pipeline.CacheRequest) {
			f.write("src/a.go", "package main\n// a, edited\n", 0o644)
		}, []string{"input src/a.go changed"}},
		{"input added", func(f *fixture, _ *pipeline.Job, _ *pipeline.CacheRequest) {
			f.write("src/sub/c.go", "package sub\n", 0o644)
		}, []string{"input src/sub/c.go added"}},
		{"input removed", func(f *fixture, _ *pipeline.Job, _ *pipeline.CacheRequest) {
			os.Remove(filepath.Join(f.ws, "src", "b.go"))
		}, []string{"input src/b.go removed"}},
		{"env changed", func(_ *fixture, j *pipeline.Job, _ *pipeline.CacheRequest) {
			j.Env = map[string]string{"GOFLAGS": "-mod=mod"}
		}, []string{"env GOFLAGS changed"}},
		{"env added", func(_ *fixture, j *pipeline.Job, _ *pipeline.CacheRequest) {
			j.Env = map[string]string{"GOFLAGS": "-mod=readonly", "CGO_ENABLED": "0"}
		}, []string{"env CGO_ENABLED added"}},
		{"script changed", func(_ *fixture, j *pipeline.Job, _ *pipeline.CacheRequest) {
			j.Script += " -v"
		}, []string{"script changed"}},
		{"image changed", func(_ *fixture, _ *pipeline.Job, req *pipeline.CacheRequest) {
			req.ImageID = "sha256:feed"
		}, []string{"image changed"}},
		{"upstream changed", func(_ *fixture, _ *pipeline.Job, req *pipeline.CacheRequest) {
			req.Upstream = map[string]string{"gen": sha("other")}
		}, []string{"upstream gen changed"}},
		{"secret changed", func(_ *fixture, _ *pipeline.Job, req *pipeline.CacheRequest) {
			req.SecretHashes = map[string]string{"TOKEN": sha("new-token")}
		}, []string{"secret TOKEN changed"}},
		{"artifacts declaration changed", func(_ *fixture, j *pipeline.Job, _ *pipeline.CacheRequest) {
			j.Config.Artifacts = []string{"bin/app"}
		}, []string{"declared inputs or artifacts changed"}},
		{"two changes", func(f *fixture, j *pipeline.Job, _ *pipeline.CacheRequest) {
			f.write("go.mod", "module y\n", 0o644)
			j.Env = map[string]string{"GOFLAGS": "-mod=mod"}
		}, []string{"env GOFLAGS changed", "input go.mod changed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.buildWorkspace()
			mk := func(run string) *pipeline.CacheRequest {
				req := f.req(run, buildJob())
				req.Upstream = map[string]string{"gen": sha("gen")}
				req.SecretHashes = map[string]string{"TOKEN": sha("token")}
				return req
			}
			first := f.run(mk("r1"), "log", f.produce("v1"))
			req := mk("r2")
			tc.change(f, req.Job, req)
			res := f.lookup(req)
			if res.Info.Hit {
				t.Fatal("hit after a change")
			}
			if res.Info.Key == first.Info.Key {
				t.Fatal("key did not change")
			}
			if !slices.Equal(res.Info.Changes, tc.want) {
				t.Fatalf("changes %q, want %q", res.Info.Changes, tc.want)
			}
			if !strings.HasPrefix(res.Info.Miss, tc.want[0]) {
				t.Fatalf("miss %q", res.Info.Miss)
			}
			// The explanation did not restore anything or break the old
			// entry: undoing nothing, the new key saves and then hits.
			f.save(req, "log2")
			req3 := mk("r3")
			tc.change(f, req3.Job, req3)
			if again := f.lookup(req3); !again.Info.Hit || again.Info.Key != res.Info.Key {
				t.Fatalf("after save: %+v", again.Info)
			}
		})
	}
}

func TestNonInputFileDoesNotChangeKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	f.write("src/README", "edited, but not an input\n", 0o644)
	f.write(".git/HEAD", "ref: refs/heads/main\n", 0o644)
	if res := f.lookup(f.req("r2", buildJob())); !res.Info.Hit {
		t.Fatalf("non-input change missed: %+v", res.Info)
	}
}

func TestKeyFollowsContentNotMtime(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	later := time.Now().Add(time.Hour)
	for _, p := range []string{"src/a.go", "src/b.go", "go.mod"} {
		if err := os.Chtimes(filepath.Join(f.ws, p), later, later); err != nil {
			t.Fatal(err)
		}
	}
	if res := f.lookup(f.req("r2", buildJob())); !res.Info.Hit {
		t.Fatalf("touch made a miss: %+v", res.Info)
	}
	// Same size, same mtime, other content: a miss.
	f.write("src/a.go", "package main\n// A\n", 0o644)
	os.Chtimes(filepath.Join(f.ws, "src/a.go"), later, later)
	if res := f.lookup(f.req("r3", buildJob())); res.Info.Hit || !slices.Equal(res.Info.Changes, []string{"input src/a.go changed"}) {
		t.Fatalf("content change hit: %+v", res.Info)
	}
}

func TestInputsSkipVCSAndStateDirs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	j := func() *pipeline.Job {
		return job("all", &config.Job{Inputs: []string{"**"}})
	}
	f.write("a.txt", "a", 0o644)
	f.write(".git/objects/x", "x", 0o644)
	_, m, err := f.c.Key(context.Background(), f.req("r1", j()))
	if err != nil {
		t.Fatal(err)
	}
	f.run(f.req("r1", j()), "log", nil)
	if _, ok := m.Files["a.txt"]; !ok || len(m.Files) != 1 {
		t.Fatalf("files %v", m.Files)
	}
	// The save above wrote into .tug (the state dir, inside the workspace):
	// still a hit.
	f.write(".git/objects/y", "y", 0o644)
	if res := f.lookup(f.req("r2", j())); !res.Info.Hit {
		t.Fatalf("state or .git changes missed: %+v", res.Info)
	}
}

func TestInputDirectoryAndSymlinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("conf/a.yaml", "a", 0o644)
	f.write("target1", "one", 0o644)
	f.write("target2", "two", 0o644)
	if err := os.Symlink("target1", filepath.Join(f.ws, "conf", "link")); err != nil {
		t.Fatal(err)
	}
	j := func() *pipeline.Job { return job("c", &config.Job{Inputs: []string{"conf"}}) }
	key1, m, err := f.c.Key(context.Background(), f.req("r", j()))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files["conf/link"] == "" || m.Files["conf/a.yaml"] != sha("a") {
		t.Fatalf("files %v", m.Files)
	}
	// A symlink counts by its target path, not the target's content.
	f.write("target1", "ONE", 0o644)
	key2, _, _ := f.c.Key(context.Background(), f.req("r", j()))
	if key2 != key1 {
		t.Fatal("symlink target content changed the key")
	}
	os.Remove(filepath.Join(f.ws, "conf", "link"))
	os.Symlink("target2", filepath.Join(f.ws, "conf", "link"))
	key3, _, _ := f.c.Key(context.Background(), f.req("r", j()))
	if key3 == key1 {
		t.Fatal("retargeted symlink kept the key")
	}
}

func TestBadPatternsAreRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	for _, p := range []string{"../outside", "/etc/passwd", "src/[", "a/../../b"} {
		_, _, err := f.c.Key(context.Background(), f.req("r", job("x", &config.Job{Inputs: []string{p}})))
		if !errors.Is(err, ErrBadPattern) || !strings.Contains(err.Error(), "job x") {
			t.Errorf("pattern %q: %v", p, err)
		}
	}
}

func TestSecretValuesNeverStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	const value = "hunter2-Pa55w0rd-VALUE"
	mk := func(run string) *pipeline.CacheRequest {
		j := buildJob()
		j.Config.Secrets = []string{"TOKEN"}
		req := f.req(run, j)
		req.SecretHashes = map[string]string{"TOKEN": sha(value)}
		return req
	}
	f.run(mk("r1"), "deploying with <secret>\n", f.produce("v1"))
	if res := f.lookup(mk("r2")); !res.Info.Hit {
		t.Fatalf("second lookup %+v", res.Info)
	}
	engineHash := sha(value)
	err := filepath.WalkDir(f.state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(value)) {
			t.Errorf("%s holds the secret value", p)
		}
		if bytes.Contains(data, []byte(engineHash)) {
			t.Errorf("%s holds the engine's secret hash verbatim", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNoCacheAndNotCacheable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "old log", f.produce("v1"))

	req := f.req("r2", buildJob())
	req.NoCache = true
	res := f.lookup(req)
	if res.Info.Hit || res.Info.Miss != "cache disabled (--no-cache)" || res.Info.Key == "" {
		t.Fatalf("no-cache lookup %+v", res.Info)
	}
	f.produce("v2")()
	f.save(req, "new log")
	if res := f.lookup(f.req("r3", buildJob())); !res.Info.Hit || string(res.Log) != "new log" {
		t.Fatalf("re-saved entry not used: %+v %q", res.Info, res.Log)
	}

	lint := job("lint", &config.Job{})
	if res := f.lookup(f.req("r3", lint)); res.Info.Hit || res.Info.Miss != "not cacheable: no inputs declared" {
		t.Fatalf("lint: %+v", res.Info)
	}
}

func TestNotCacheableJobKeyFollowsItsArtifacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	gen := func() *pipeline.Job { return job("gen", &config.Job{Artifacts: []string{"gen/*"}}) }
	f.write("gen/out.txt", "one", 0o644)
	i1 := f.save(f.req("r1", gen()), "log")
	i2 := f.save(f.req("r2", gen()), "log")
	f.write("gen/out.txt", "two", 0o644)
	i3 := f.save(f.req("r3", gen()), "log")
	if i1.Key == "" || i1.Key != i2.Key || i3.Key == i1.Key {
		t.Fatalf("keys %s %s %s", i1.Key, i2.Key, i3.Key)
	}
	entries, err := f.c.List(context.Background())
	if err != nil || len(entries) != 0 {
		t.Fatalf("a non-cacheable job made entries: %v %v", entries, err)
	}
	dir := t.TempDir()
	if err := f.c.Restore(context.Background(), "r1", "gen", dir); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "gen", "out.txt")); string(data) != "one" {
		t.Fatalf("run r1 artifact %q", data)
	}
}

func TestMatrixInstancesAreSeparate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("src/a.go", "a", 0o644)
	inst := func(v string) *pipeline.Job {
		j := job("unit", &config.Job{Inputs: []string{"src/*.go"}, Artifacts: []string{"cover-" + v + ".out"}})
		j.Name = "unit[go=" + v + "]"
		j.Matrix = map[string]string{"go": v}
		j.Env = map[string]string{"MATRIX_GO": v}
		return j
	}
	for _, v := range []string{"1.25", "1.26"} {
		res := f.run(f.req("r1", inst(v)), "log "+v, func() { f.write("cover-"+v+".out", "cover "+v, 0o644) })
		if res.Info.Miss != "no previous run" {
			t.Fatalf("%s: %+v", v, res.Info)
		}
	}
	for _, v := range []string{"1.25", "1.26"} {
		res := f.lookup(f.req("r2", inst(v)))
		if !res.Info.Hit || string(res.Log) != "log "+v {
			t.Fatalf("%s: %+v %q", v, res.Info, res.Log)
		}
	}
	arts, err := f.c.Artifacts(context.Background(), "r2", "")
	if err != nil || len(arts) != 2 || arts[0].Job != "unit[go=1.25]" || arts[1].Job != "unit[go=1.26]" {
		t.Fatalf("run artifacts %+v %v", arts, err)
	}
}

func TestExplainDoesNotRestore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	os.RemoveAll(filepath.Join(f.ws, "bin"))
	info, err := f.c.Explain(context.Background(), f.req("r2", buildJob()))
	if err != nil || !info.Hit {
		t.Fatalf("explain %+v %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(f.ws, "bin", "app")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("explain restored files: %v", err)
	}
	if _, err := f.c.Artifacts(context.Background(), "r2", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("explain recorded run artifacts: %v", err)
	}
}

func TestExportArtifacts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	out := t.TempDir()
	paths, err := f.c.ExportArtifacts(context.Background(), "r1", "build", out)
	if err != nil || len(paths) != 2 {
		t.Fatalf("export %v %v", paths, err)
	}
	data, _ := os.ReadFile(filepath.Join(out, "out", "data", "report.txt"))
	fi, _ := os.Stat(filepath.Join(out, "bin", "app"))
	if string(data) != "report v1" || fi.Mode().Perm() != 0o755 {
		t.Fatalf("exported %q %v", data, fi.Mode())
	}

	// Two jobs with different files at one path: refused, nothing written.
	f.write("bin/app", "other", 0o755)
	f.save(f.req("r1", job("other", &config.Job{Artifacts: []string{"bin/app"}})), "log")
	empty := t.TempDir()
	if _, err := f.c.ExportArtifacts(context.Background(), "r1", "", empty); err == nil || !strings.Contains(err.Error(), "bin/app") {
		t.Fatalf("conflict: %v", err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Fatalf("conflicting export wrote %v", ents)
	}
}

func TestConcurrentJobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxSize: 1 << 20})
	const n = 24
	mk := func(i int, run string) *pipeline.CacheRequest {
		name := fmt.Sprintf("job%02d", i)
		return f.req(run, job(name, &config.Job{Inputs: []string{name + "/**"}, Artifacts: []string{"out/" + name}}))
	}
	for i := range n {
		f.write(fmt.Sprintf("job%02d/in.txt", i), fmt.Sprint("input ", i), 0o644)
	}
	for _, run := range []string{"r1", "r2"} {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				req := mk(i, run)
				res, err := f.c.Lookup(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				if run == "r2" != res.Info.Hit {
					errs <- fmt.Errorf("%s %s: hit=%v %s", run, req.Job.Name, res.Info.Hit, res.Info.Miss)
					return
				}
				if res.Info.Hit {
					return
				}
				p := filepath.Join(f.ws, "out", req.Job.Name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte(strings.Repeat(req.Job.Name, 100)), 0o644)
				if _, err := f.c.Save(context.Background(), req, []byte("log")); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}

func TestOwnOutputsAreNotInputs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("src/a.go", "a", 0o644)
	j := func() *pipeline.Job {
		return job("all", &config.Job{Inputs: []string{"**"}, Artifacts: []string{"out"},
			Reports: &config.Reports{JUnit: []string{"report.xml"}}})
	}
	first := f.run(f.req("r1", j()), "log", func() {
		f.write("out/bin/app", "app", 0o755)
		f.write("report.xml", "<testsuites/>", 0o644)
	})
	res := f.lookup(f.req("r2", j()))
	if !res.Info.Hit || res.Info.Key != first.Info.Key {
		t.Fatalf("a job's own outputs changed its key: %+v", res.Info)
	}
	arts, err := f.c.Artifacts(context.Background(), "r2", "all")
	if err != nil || len(arts) != 2 || arts[0].Path != "out/bin/app" || arts[1].Path != "report.xml" {
		t.Fatalf("artifacts %+v %v", arts, err)
	}
}

// A dry run does not know the key of a need the cache never skips; it
// takes the one the job's last cached run saw.
func TestExplainAssumesUnknownUpstreamUnchanged(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("src.txt", "v1", 0o644)
	j := job("test", &config.Job{Inputs: []string{"src.txt"}, Needs: []string{"gen"}})
	req := f.req("r1", j)
	req.Upstream = map[string]string{"gen": "k1"}
	f.run(req, "log", nil)

	dry := f.req("r2", j)
	dry.Upstream = map[string]string{"gen": ""}
	info, err := f.c.Explain(context.Background(), dry)
	if err != nil || !info.Hit {
		t.Fatalf("explain with unknown upstream: %+v %v", info, err)
	}
	if dry.Upstream["gen"] != "" {
		t.Fatal("Explain changed the caller's request")
	}
	dry.Upstream = map[string]string{"gen": "k2"}
	info, err = f.c.Explain(context.Background(), dry)
	if err != nil || info.Hit || info.Miss != "upstream gen changed" {
		t.Fatalf("explain with changed upstream: %+v %v", info, err)
	}
}

// Cache hits are recorded as lines of one file per run: they keep their
// blobs alive once the entry and the run that made them are gone, and a
// line an OS crash cut short loses only itself.
func TestHitRecordsKeepBlobsAndSurviveTornLines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.buildWorkspace()
	f.run(f.req("r1", buildJob()), "log", f.produce("v1"))
	lint := job("lint", &config.Job{Inputs: []string{"go.mod"}, Artifacts: []string{"out/**"}})
	f.run(f.req("r1", lint), "log", nil)
	for _, j := range []*pipeline.Job{buildJob(), lint} {
		if res := f.lookup(f.req("r2", j)); !res.Info.Hit {
			t.Fatalf("%s: %+v", j.Name, res.Info)
		}
	}
	if ents, _ := os.ReadDir(f.c.runDir("r2")); len(ents) != 1 || ents[0].Name() != hitsFile {
		t.Fatalf("run r2 holds %v, want only %s", ents, hitsFile)
	}
	// Lose the entries and run r1: only r2's hit records refer to the blobs.
	for _, d := range []string{"entries", "jobs"} {
		if err := clearDir(filepath.Join(f.c.root, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.c.removeRun("r1"); err != nil {
		t.Fatal(err)
	}
	hits := filepath.Join(f.c.runDir("r2"), hitsFile)
	data, _ := os.ReadFile(hits)
	if err := os.WriteFile(hits, data[:len(data)-20], 0o644); err != nil { // lint's line, torn
		t.Fatal(err)
	}
	if _, err := f.c.Prune(ctx, PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := f.c.Restore(ctx, "r2", "build", out); err != nil {
		t.Fatalf("restore build from its hit record: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(out, "bin", "app")); err != nil || string(data) != "\x7fELF binary v1" {
		t.Fatalf("restored %q %v", data, err)
	}
	arts, err := f.c.Artifacts(ctx, "r2", "")
	if err != nil || len(arts) != 2 || arts[0].Job != "build" || arts[1].Job != "build" {
		t.Fatalf("artifacts of r2 with a torn last line: %+v %v", arts, err)
	}
}
