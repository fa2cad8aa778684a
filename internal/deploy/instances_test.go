package deploy

import "testing"

// TestInstancesKnowTheirReleaseAndRevision: every instance gets
// TUG_RELEASE and TUG_REVISION (the examples' /version reads them).
func TestInstancesKnowTheirReleaseAndRevision(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	rel := h.mustDeploy("")
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	if len(h.rt.starts) == 0 {
		t.Fatal("nothing started")
	}
	for _, s := range h.rt.starts {
		if s.Env["TUG_RELEASE"] != rel.ID || s.Env["TUG_REVISION"] != rel.Revision || rel.Revision == "" {
			t.Errorf("instance %s: TUG_RELEASE=%q TUG_REVISION=%q, release %s at %q", s.ID, s.Env["TUG_RELEASE"], s.Env["TUG_REVISION"], rel.ID, rel.Revision)
		}
	}
}
