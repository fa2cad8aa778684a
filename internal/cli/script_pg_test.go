package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// pgCluster (`pgcluster DB`) starts a real PostgreSQL (Debian's binaries,
// initdb in a temporary directory) holding an empty database DB, for the
// rest of the script: the project's "production" database. It sets
// DATABASE_URL (DB over loopback TCP, with its password), ADMIN_URL (the
// same server's postgres database) and PGTMP, a temporary directory the
// postgres user can reach (PostgreSQL refuses to run as root, and the
// script's own $WORK is private): a TMPDIR for the scratch clusters the
// script's tug commands start. Everything goes when the script ends.
func pgCluster(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pgcluster DB")
	}
	m, err := backup.New(&config.Config{}, backup.Options{StateDir: ts.MkAbs(".pg"),
		Secrets: func(context.Context, []string) (map[string]secret.Value, error) { return nil, nil }})
	ts.Check(err)
	db, err := m.StartScratch(context.Background(), "the script's database", args[0])
	ts.Check(err)
	ts.Defer(db.Stop)
	ts.Setenv("DATABASE_URL", db.URL)
	ts.Setenv("ADMIN_URL", strings.Replace(db.URL, "/"+args[0]+"?", "/postgres?", 1))
	tmp, err := os.MkdirTemp("", "tug-script-tmp-")
	ts.Check(err)
	ts.Defer(func() { os.RemoveAll(tmp) })
	ts.Check(os.Chmod(tmp, 0o755))
	ts.Setenv("PGTMP", tmp)
}

// noProc (`noproc DIR`) fails if a running process works in DIR or
// names a path under it on its command line: nothing started there is
// left running.
func noProc(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: noproc DIR")
	}
	dir := ts.MkAbs(args[0]) + "/"
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		b, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		if strings.Contains(string(b), dir) || strings.HasPrefix(cwd+"/", dir) {
			ts.Fatalf("%s still runs in %s: %s", filepath.Base(p), cwd, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}
