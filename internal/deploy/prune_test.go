package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestOldReleaseCopiesArePruned: each deploy leaves a copy of its release;
// once a release goes live, copies beyond the newest keepReleaseDirs good
// releases go, except where an instance still runs.
func TestOldReleaseCopiesArePruned(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "app"), "prod"))
	var ids []string
	for range keepReleaseDirs + 3 {
		ids = append(ids, h.mustDeploy("prod").ID)
	}
	ents, err := os.ReadDir(filepath.Join(h.dir, "state", "releases"))
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, e := range ents {
		have = append(have, e.Name())
	}
	want := ids[len(ids)-keepReleaseDirs:]
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("release copies = %v, want the newest %d: %v", have, keepReleaseDirs, want)
	}
	// A rollback to a kept release is still a plain switch or redeploy.
	if _, err := h.m.Rollback(t.Context(), "web", "prod", "tester", h.progress); err != nil {
		t.Fatalf("rollback after pruning: %v", err)
	}
}
