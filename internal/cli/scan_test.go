package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/scan"
	"github.com/tugdev/tug/internal/store"
)

// tug scan --release SERVICE scans what is live: the release copy the
// deploy made, with the vulnerability database and tug.yaml's advisories.
func TestScanRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	ctx := context.Background()
	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rel := &store.Release{Service: "web", Environment: "production", Status: "live"}
	if err := st.CreateRelease(ctx, rel); err != nil {
		t.Fatal(err)
	}
	st.Close()
	relDir := filepath.Join(state, "releases", rel.ID)
	os.MkdirAll(relDir, 0o755)
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/lodash": {"version": "4.17.15"}}}`
	os.WriteFile(filepath.Join(relDir, "package-lock.json"), []byte(lock), 0o644)
	// The working tree is newer: the fix is not deployed yet.
	os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(strings.Replace(lock, "4.17.15", "4.17.21", 1)), 0o644)
	// The advisories are the scan room's fixtures.
	adv, _ := filepath.Abs("../scan/testdata/advisories")
	os.WriteFile(filepath.Join(dir, "tug.yaml"), []byte("version: 1\nservices:\n  web: {run: ./web}\nscan:\n  advisories: ["+adv+"]\n"), 0o644)
	db, err := scan.BuildDB(filepath.Join(dir, "db"), []string{adv}, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runTug(t, "-f", filepath.Join(dir, "tug.yaml"), "scan", "--release", "web", "--db", db.Dir, "--fail-on", "high")
	if code != exitFailed || !strings.Contains(out, "GHSA-test-lodash") || !strings.Contains(out, "lodash@4.17.15") {
		t.Errorf("--release: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runTug(t, "-f", filepath.Join(dir, "tug.yaml"), "scan", "--only", "deps", "--db", db.Dir, "--fail-on", "high")
	if code != exitOK || strings.Contains(out, "GHSA-test-lodash") {
		t.Errorf("working tree: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runTug(t, "-f", filepath.Join(dir, "tug.yaml"), "scan", "--release", "api", "--db", db.Dir)
	if code != exitBadInput || !strings.Contains(errOut, "api has no live release") {
		t.Errorf("unknown service: exit %d: %s", code, errOut)
	}
}

// While tug scan analyses Go dependencies the collector runs at
// scanGCPercent, unless GOGC says otherwise; afterwards it is as before.
// Not parallel: the GC percent is the process's.
func TestScanGC(t *testing.T) {
	before := debug.SetGCPercent(77)
	defer debug.SetGCPercent(before)
	noEnv := func(string) (string, bool) { return "", false }
	restore := scanGC(noEnv)
	if got := debug.SetGCPercent(scanGCPercent); got != scanGCPercent {
		t.Errorf("GC percent while scanning = %d, want %d", got, scanGCPercent)
	}
	restore()
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent after the scan = %d, want 77", got)
	}
	gogc := func(k string) (string, bool) { return "300", k == "GOGC" }
	restore = scanGC(gogc)
	if got := debug.SetGCPercent(77); got != 77 {
		t.Errorf("GC percent with GOGC set = %d, want 77 (the user's)", got)
	}
	restore()
}
