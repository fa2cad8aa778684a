package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
)

// TestDeployFailsFastWhenAnInstanceExits: a release whose processes exit
// as they start fails the deploy at once, naming the exit status and the
// last log lines, not after the deploy timeout (here an hour); and a gate
// that waits says so while it waits.
func TestDeployFailsFastWhenAnInstanceExits(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	rt, err := runtime.NewProcess(runtime.ProcessOptions{StateDir: filepath.Join(dir, "rt")})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := filepath.Join(dir, "repo")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := New(Options{Store: st, Runtimes: map[string]runtime.Runtime{"process": rt}, Router: newFakeRouter(),
		RepoDir: repo, StateDir: filepath.Join(dir, "state"), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Shutdown(context.Background(), true)
		rt.Close()
	})
	svc := &config.Service{
		Run:    `echo "connecting to db"; echo "fatal: DATABASE_URL is not set" >&2; exit 3`,
		Health: &config.Health{Path: "/healthz", Interval: config.Duration(100 * time.Millisecond)},
		Deploy: &config.DeployPolicy{DeployTimeout: config.Duration(time.Hour)},
	}
	m.SetConfig(configWith(svc))
	// The bound of this test, not of the deploy: without fast failure the
	// deploy would wait its hour and this context would end it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	var events []string
	_, err = m.Deploy(ctx, Request{Service: "web"}, func(e Event) {
		mu.Lock()
		events = append(events, e.Phase+" "+e.Message)
		mu.Unlock()
	})
	if !errors.Is(err, ErrFailed) || ctx.Err() != nil {
		t.Fatalf("deploy: %v (ctx %v)", err, ctx.Err())
	}
	for _, want := range []string{"exited during start", "exit status 3", "fatal: DATABASE_URL is not set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// TestGateSaysWhatItWaitsFor: a slow instance gets progress lines naming
// the instance, the check and how long it has waited.
func TestGateSaysWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "sick")))
	h.m.opts.ProgressEvery = 100 * time.Millisecond
	h.cfg.Services["web"].Deploy.DeployTimeout = config.Duration(time.Second)
	_, err := h.deploy("")
	if err == nil {
		t.Fatal("a sick release went live")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e.Phase == "health" && strings.HasPrefix(e.Message, "waiting for web-default-") && strings.Contains(e.Message, "/healthz: 500") && strings.Contains(e.Message, "so far") {
			return
		}
	}
	t.Errorf("no progress while the gate waited: %+v", h.events)
}
