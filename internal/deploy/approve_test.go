package deploy

import (
	"context"
	"errors"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/testkit"
)

// With approval {required: true, not_by: deployer}, whoever deployed a
// release may not approve it (the release keeps waiting, nothing
// starts), may still reject it, and someone else approves it.
func TestApprovalNotByTheDeployer(t *testing.T) {
	t.Parallel()
	cfg := configWith(webService("rolling", "ok"), "staging", "production")
	cfg.Environments["production"].Approval = config.Approval{Required: true, NotBy: config.NotByDeployer}
	h := newHarness(t, cfg)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := h.deploy("production") // as "tester"
		done <- err
	}()
	var id string
	testkit.Eventually(t, 0, "the release awaits approval", func() bool {
		rels, _ := h.m.Releases(ctx, "web", "production")
		if len(rels) == 1 && rels[0].Status == StatusAwaiting {
			id = rels[0].ID
			return true
		}
		return false
	})
	if _, err := h.m.Approve(ctx, id, "tester"); !errors.Is(err, ErrOwnApproval) {
		t.Fatalf("the deployer approving: %v", err)
	}
	if r := h.release(id); r.Status != StatusAwaiting || r.ApprovedBy != "" || h.rt.startCount() != 0 {
		t.Fatalf("after a refused approval: %+v, %d started", r, h.rt.startCount())
	}
	if _, err := h.m.Approve(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r := h.release(id); r.Status != StatusLive || r.ApprovedBy != "carol" {
		t.Fatalf("approved by another: %+v", r)
	}

	// The deployer may reject their own release.
	go func() {
		_, err := h.deploy("production")
		done <- err
	}()
	testkit.Eventually(t, 0, "the second release awaits approval", func() bool {
		rels, _ := h.m.Releases(ctx, "web", "production")
		if len(rels) == 2 && rels[0].Status == StatusAwaiting {
			id = rels[0].ID
			return true
		}
		return false
	})
	if _, err := h.m.Reject(ctx, id, "tester"); err != nil {
		t.Fatalf("the deployer rejecting: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrFailed) {
		t.Fatalf("rejected deploy: %v", err)
	}
}
