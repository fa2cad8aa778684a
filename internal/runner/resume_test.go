package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// approvals is a deploy manager whose deploys to production wait for an
// approval that comes while the server is down: Deploy waits until the
// server stops; Resume finds the release approved and live.
type approvals struct {
	mu               sync.Mutex
	deploys, resumes []string
}

func (a *approvals) Deploy(ctx context.Context, req deploy.Request, progress deploy.Progress) (*deploy.Release, error) {
	a.mu.Lock()
	a.deploys = append(a.deploys, req.Environment)
	a.mu.Unlock()
	if req.Environment != "production" {
		return &deploy.Release{ID: "r-" + req.Environment, Status: deploy.StatusLive, Environment: req.Environment}, nil
	}
	progress(deploy.Event{Release: "r-production", Phase: "approval", Awaiting: true, Message: "needs approval: run `tug approve r-production`"})
	<-ctx.Done()
	progress(deploy.Event{Release: "r-production", Phase: "approval", Message: "the server is stopping; r-production keeps waiting for approval"})
	return nil, fmt.Errorf("%w: release r-production still awaits approval", context.Cause(ctx))
}

func (a *approvals) Resume(_ context.Context, req deploy.Request, _ deploy.Progress) (*deploy.Release, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resumes = append(a.resumes, req.Environment+" by "+req.Who)
	return &deploy.Release{ID: "r-" + req.Environment, Status: deploy.StatusLive, Environment: req.Environment}, true, nil
}

func (a *approvals) calls() (deploys, resumes []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.deploys...), append([]string(nil), a.resumes...)
}

// TestRunWaitingForApprovalSurvivesRestart: a run whose production
// deploy waits for approval when the server stops is queued again, not
// interrupted; the next server runs it again as resumed, its deploys
// find the releases they made (approved meanwhile) rather than deploying
// anew, and the run succeeds.
func TestRunWaitingForApprovalSurvivesRestart(t *testing.T) {
	t.Parallel()
	yaml := `version: 1
pipelines:
  ci:
    on: [push]
    jobs:
      test: {run: "true"}
      staging: {needs: [test], deploy: {service: shop, environment: staging}}
      production: {needs: [staging], deploy: {service: shop, environment: production}}
services:
  shop: {run: ./shop}
environments:
  staging: {}
  production: {approval: required}
`
	r := newRepo(t, yaml)
	cfg := parseT(t, yaml)
	mgr := &approvals{}
	st, err := store.Open(context.Background(), r.state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	serve := func() (*Queue, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		rn := New(Options{Store: st, StateDir: r.state, DeployerFor: func(spec Spec) pipeline.Deployer {
			return ManagerDeployer{M: mgr, Who: "pipeline " + spec.Pipeline, Resumed: spec.Resumed}
		}})
		q, err := NewQueue(ctx, QueueOptions{Runner: rn, Store: st, StateDir: r.state,
			ConfigPath: filepath.Join(r.dir, "tug.yaml"), Config: func() *config.Config { return cfg }})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { q.Run(ctx); close(done) }()
		return q, func() { cancel(); <-done; rn.Close() }
	}
	q, stop := serve()
	run := push(t, q, r, gitIn(t, r.dir, "rev-parse", "HEAD"))[0]
	testkit.Eventually(t, 0, "production to wait for approval", func() bool {
		_, jobs, err := st.GetRun(context.Background(), run.ID)
		for _, j := range jobs {
			if j.Name == "production" && j.Status == store.StatusWaiting {
				return err == nil
			}
		}
		return false
	})
	stop()
	got, _, err := st.GetRun(context.Background(), run.ID)
	if err != nil || got.Status != store.StatusQueued || !strings.Contains(got.Reason, "production waited for approval") {
		t.Fatalf("after the server stopped: %+v %v", got, err)
	}

	_, stop = serve()
	defer stop()
	if got := waitRun(t, st, run.ID, "success", "failed", "cancelled", "interrupted"); got.Status != "success" {
		t.Fatalf("the resumed run: %+v", got)
	}
	deploys, resumes := mgr.calls()
	if strings.Join(deploys, " ") != "staging production" || strings.Join(resumes, ", ") != "staging by pipeline ci, production by pipeline ci" {
		t.Errorf("deploys %v, resumes %v", deploys, resumes)
	}
}
