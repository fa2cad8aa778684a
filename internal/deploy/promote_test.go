package deploy

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// TestRevisionThatFailedInStagingNeedsForce: a revision whose canary
// failed in staging does not silently go to production; with Force it
// does, saying so; once it went live in staging it needs nothing.
func TestRevisionThatFailedInStagingNeedsForce(t *testing.T) {
	t.Parallel()
	svc := webService("canary", "ok")
	svc.Replicas = 1
	svc.Deploy.Steps = []config.CanaryStep{{Weight: 50, Pause: config.Duration(10 * time.Millisecond)}}
	svc.Deploy.Analysis = &config.Analysis{MaxErrorRate: 0.01}
	svc.Environments = map[string]*config.ServiceEnvironment{"production": {Routes: []string{"web.prod.test"}}}
	h := newHarness(t, configWith(svc, "staging", "production"))
	repo := filepath.Join(h.dir, "repo")
	git(t, repo, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(repo, "tug.yaml"), "version: 1\n")
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "one")
	h.mustDeploy("staging")
	h.mustDeploy("production")

	h.setRun("flaky") // the canary of this revision fails its analysis
	bad, err := h.deploy("staging")
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("flaky canary: %v", err)
	}
	_, err = h.deploy("production")
	if !errors.Is(err, ErrFailedElsewhere) || !strings.Contains(err.Error(), "failed in staging (release "+bad.ID) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("promoting the failed revision: %v", err)
	}
	ctx := context.Background()
	if rels, _ := h.m.Releases(ctx, "web", "production"); len(rels) != 1 {
		t.Fatalf("the refusal recorded a release: %+v", rels)
	}

	h.mu.Lock()
	h.events = nil
	h.mu.Unlock()
	h.setRun("ok")
	rel, err := h.m.Deploy(ctx, Request{Service: "web", Environment: "production", Force: true}, h.progress)
	if err != nil || rel.Status != StatusLive {
		t.Fatalf("forced: %v", err)
	}
	h.mu.Lock()
	warned := false
	for _, e := range h.events {
		warned = warned || strings.HasPrefix(e.Message, "warning: deploying anyway (--force)")
	}
	h.mu.Unlock()
	if !warned {
		t.Error("a forced deploy did not say what it overrode")
	}

	// Fixed in staging: the same revision goes live there, and promoting
	// it needs no force.
	h.mustDeploy("staging")
	if _, err := h.deploy("production"); err != nil {
		t.Fatalf("after it went live in staging: %v", err)
	}
}
