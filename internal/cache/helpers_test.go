package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/testkit"
)

// fixture is a workspace, a state directory and a cache over them.
type fixture struct {
	t     *testing.T
	ws    string
	state string
	clk   *testkit.Clock
	c     *Cache
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	f := &fixture{t: t, ws: t.TempDir(), clk: testkit.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))}
	f.state = filepath.Join(f.ws, ".tug")
	if opts.Now == nil {
		opts.Now = f.clk.Now
	}
	c, err := New(f.state, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	return f
}

// write puts a file into the workspace.
func (f *fixture) write(rel, content string, mode os.FileMode) {
	f.t.Helper()
	p := filepath.Join(f.ws, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(rel string) (string, os.FileMode) {
	f.t.Helper()
	p := filepath.Join(f.ws, filepath.FromSlash(rel))
	data, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(data), fi.Mode().Perm()
}

// job builds a job instance the way a plan would.
func job(name string, cfg *config.Job) *pipeline.Job {
	if cfg.Run == "" {
		cfg.Run = "echo " + name
	}
	return &pipeline.Job{Name: name, Base: name, Script: cfg.Run, Env: cfg.Env, Config: cfg}
}

func (f *fixture) req(run string, j *pipeline.Job) *pipeline.CacheRequest {
	return &pipeline.CacheRequest{RunID: run, Job: j, Dir: f.ws, Cacheable: len(j.Config.Inputs) > 0}
}

func (f *fixture) lookup(req *pipeline.CacheRequest) *pipeline.CacheResult {
	f.t.Helper()
	res, err := f.c.Lookup(context.Background(), req)
	if err != nil {
		f.t.Fatalf("lookup %s: %v", req.Job.Name, err)
	}
	return res
}

func (f *fixture) save(req *pipeline.CacheRequest, log string) *pipeline.CacheInfo {
	f.t.Helper()
	info, err := f.c.Save(context.Background(), req, []byte(log))
	if err != nil {
		f.t.Fatalf("save %s: %v", req.Job.Name, err)
	}
	return info
}

// run does what the engine does for one job: lookup, and on a miss run
// (the given func) and save.
func (f *fixture) run(req *pipeline.CacheRequest, log string, body func()) *pipeline.CacheResult {
	f.t.Helper()
	res := f.lookup(req)
	if res.Info.Hit {
		return res
	}
	if body != nil {
		body()
	}
	info := f.save(req, log)
	if info.Key != res.Info.Key {
		f.t.Fatalf("save key %s != lookup key %s", info.Key, res.Info.Key)
	}
	res.Info.Evicted = info.Evicted
	return res
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
