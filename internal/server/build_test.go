package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// builds holds the binaries end-to-end tests need, built once per test
// binary on first use and removed by TestMain.
type builds struct {
	once sync.Once
	dir  string
	tug  string
	app  string
	err  error
}

// built is the test binary's one set of builds; TestMain owns its
// lifetime (a test-only package variable: Go offers TestMain no other
// way to share state with tests).
var built builds

// binaries builds ./cmd/tug and testdata/app, or skips the test in
// -short mode.
func binaries(t *testing.T) (tug, app string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: builds tug; skipped with -short")
	}
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "tug-server-e2e-")
		if built.err != nil {
			return
		}
		built.tug = filepath.Join(built.dir, "tug")
		built.app = filepath.Join(built.dir, "app")
		for _, b := range [][]string{{built.tug, "../../cmd/tug"}, {built.app, "./testdata/app"}} {
			cmd := exec.Command("go", "build", "-o", b[0], b[1])
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				built.err = &buildError{b[1], string(out), err}
				return
			}
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.tug, built.app
}

type buildError struct {
	pkg, out string
	err      error
}

func (e *buildError) Error() string { return "go build " + e.pkg + ": " + e.err.Error() + "\n" + e.out }

// cleanupBuilds removes what binaries built.
func cleanupBuilds() {
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
}
