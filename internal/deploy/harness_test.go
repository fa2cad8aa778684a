package deploy

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
)

// harness is a Manager wired to a fake runtime and router, with a real
// store in a temp dir.
type harness struct {
	t      *testing.T
	dir    string
	rt     *fakeRuntime
	router *fakeRouter
	store  *store.Store
	m      *Manager
	cfg    *config.Config
	dead   *atomic.Bool

	mu     sync.Mutex
	events []Event
}

func webService(strategy, run string) *config.Service {
	return &config.Service{
		Run: run, Replicas: 2, Routes: []string{"web.test", "web.test/api"},
		Health: &config.Health{Path: "/healthz", Interval: config.Duration(20 * time.Millisecond), Timeout: config.Duration(time.Second)},
		Deploy: &config.DeployPolicy{
			Strategy:       strategy,
			DeployTimeout:  config.Duration(3 * time.Second),
			DrainTimeout:   config.Duration(300 * time.Millisecond),
			RollbackWindow: config.Duration(time.Minute),
		},
	}
}

func configWith(svc *config.Service, envs ...string) *config.Config {
	c := &config.Config{
		Version: 1, Project: "test",
		Services:     map[string]*config.Service{"web": svc},
		ServiceOrder: []string{"web"},
		Environments: map[string]*config.Environment{},
	}
	for _, e := range envs {
		c.Environments[e] = &config.Environment{}
		c.EnvironmentOrder = append(c.EnvironmentOrder, e)
	}
	return c
}

func newHarness(t *testing.T, cfg *config.Config) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), rt: newFakeRuntime(t), router: newFakeRouter(), cfg: cfg}
	h.start()
	return h
}

// start opens the store and a Manager (again, after a simulated crash).
func (h *harness) start() {
	t := h.t
	s, err := store.Open(context.Background(), filepath.Join(h.dir, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h.store = s
	h.dead = &atomic.Bool{}
	repo := filepath.Join(h.dir, "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{
		Store:        s,
		Runtimes:     map[string]runtime.Runtime{"process": crashRuntime{h.rt, h.dead}},
		Router:       crashRouter{h.router, h.dead},
		RepoDir:      repo,
		StateDir:     filepath.Join(h.dir, "state"),
		PollInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Shutdown(ctx, false)
	})
	m.SetConfig(h.cfg)
	h.m = m
}

// crash cuts the current Manager off: its router and runtime calls fail
// and its store is closed, as if its process died.
func (h *harness) crash() {
	h.dead.Store(true)
	h.store.Close()
}

func (h *harness) progress(e Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	h.mu.Unlock()
}

func (h *harness) deploy(env string) (*Release, error) {
	h.t.Helper()
	return h.m.Deploy(context.Background(), Request{Service: "web", Environment: env, Who: "tester"}, h.progress)
}

func (h *harness) mustDeploy(env string) *Release {
	h.t.Helper()
	rel, err := h.deploy(env)
	if err != nil {
		h.t.Fatalf("deploy: %v", err)
	}
	if rel.Status != StatusLive {
		h.t.Fatalf("release %s status %s", rel.ID, rel.Status)
	}
	return rel
}

// setRun changes the service's command, so the next deploy runs something else.
func (h *harness) setRun(run string) {
	h.cfg.Services["web"].Run = run
	h.m.SetConfig(h.cfg)
}

func (h *harness) release(id string) Release {
	h.t.Helper()
	rels, err := h.m.Releases(context.Background(), "web", "")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rels {
		if r.ID == id {
			return r
		}
	}
	h.t.Fatalf("no release %s", id)
	return Release{}
}

// pools summarises a table's first route: release -> weight, backends.
func pools(t *proxy.Table) map[string][2]int {
	out := map[string][2]int{}
	if len(t.Routes) == 0 {
		return out
	}
	for _, p := range t.Routes[0].Pools {
		out[p.Release] = [2]int{p.Weight, len(p.Backends)}
	}
	return out
}

type (
	smokeCfg    = config.Smoke
	stepCfg     = config.CanaryStep
	analysisCfg = config.Analysis
)

func durationCfg(d time.Duration) config.Duration { return config.Duration(d) }
