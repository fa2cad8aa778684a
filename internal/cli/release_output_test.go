package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/deploy"
)

// TestRollbackPrintsItsOwnDuration: the release a rollback returns is the
// old one; its age is not the rollback's duration.
func TestRollbackPrintsItsOwnDuration(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	a := newApp(Env{Stdout: &out})
	created := time.Now().Add(-11 * time.Second)
	finished := created.Add(2 * time.Second)
	rel := &deploy.Release{ID: "r1", Revision: "abc", Environment: "staging", Strategy: "blue-green", Status: "live", CreatedAt: created, FinishedAt: &finished}
	if err := a.finishRelease(a.newProgressPrinter(&out, ""), "rollback", "web", rel, nil, time.Now().Add(-65*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if !strings.HasPrefix(got, "web r1 (abc) is live again in staging (rolled back in 6") || !strings.HasSuffix(got, "ms)\n") {
		t.Errorf("rollback line %q", got)
	}
}
