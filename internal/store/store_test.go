package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// at is a fixed instant plus sec seconds, for deterministic timestamps.
func at(sec int) time.Time {
	return time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC).Add(time.Duration(sec) * time.Second)
}

func openT(t *testing.T, dir string, opts Options) *Store {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return at(0) }
	}
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesPrivateDirAndFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	s := openT(t, dir, Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("dir mode = %o, want 700", perm)
	}
	if s.Path() != filepath.Join(dir, FileName) {
		t.Errorf("Path = %q", s.Path())
	}
	if _, err := os.Stat(s.Path()); err != nil {
		t.Errorf("db file: %v", err)
	}
}

func TestOpenRejectsBadDir(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"", "x?y", "x#y"} {
		if _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", dir, err)
		}
	}
	// A file where the directory should be.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), f, Options{}); err == nil {
		t.Error("Open on a regular file succeeded")
	}
}

func TestPragmas(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
	} {
		var got string
		if err := s.db.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	s1 := openT(t, dir, Options{})
	if _, err := s1.CreateRun(ctx, &Run{Pipeline: "ci"}); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	s2 := openT(t, dir, Options{}) // second open: nothing to apply, data kept
	var n, v int
	if err := s2.db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if want, wantV := len(migrations()), lastVersion(migrations()); n != want || v != wantV {
		t.Errorf("schema_migrations: %d rows, version %d; want %d rows, version %d", n, v, want, wantV)
	}
	if runs, err := s2.ListRuns(ctx, ListOptions{}); err != nil || len(runs) != 1 {
		t.Errorf("runs after reopen = %v, %v", runs, err)
	}
}

func TestMigrateAppliesOnlyNewSteps(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	steps := append(migrations(), migration{9001, `CREATE TABLE extra (x INTEGER)`}, migration{9002, `INSERT INTO extra VALUES (1)`})
	for range 2 { // second pass must be a no-op (no duplicate insert)
		if err := s.migrate(ctx, steps); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM extra`).Scan(&n); err != nil || n != 1 {
		t.Errorf("extra rows = %d, %v; want 1", n, err)
	}
	v, err := currentVersion(ctx, s.db)
	if err != nil || v != 9002 {
		t.Errorf("version = %d, %v; want 9002", v, err)
	}
	// This binary knows fewer steps than the database has: refuse.
	if err := s.migrate(ctx, migrations()); err == nil {
		t.Error("migrate with an older step list succeeded")
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	t.Parallel()
	s := openT(t, t.TempDir(), Options{})
	ctx := context.Background()
	steps := append(migrations(), migration{9001, `CREATE TABLE half (x INTEGER); INSERT INTO nosuch VALUES (1)`})
	if err := s.migrate(ctx, steps); err == nil {
		t.Fatal("broken migration succeeded")
	}
	v, _ := currentVersion(ctx, s.db)
	if want := lastVersion(migrations()); v != want {
		t.Errorf("version = %d after failed step, want %d", v, want)
	}
	var n int
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n)
	if n != 0 {
		t.Error("failed migration left table 'half' behind")
	}
}

func lastVersion(ms []migration) int {
	v := 0
	for _, m := range ms {
		v = max(v, m.version)
	}
	return v
}

// TestMigrationAreasKeepTheirNumbers: a step added to one area leaves the
// versions of the others alone.
func TestMigrationAreasKeepTheirNumbers(t *testing.T) {
	t.Parallel()
	seen := map[int]bool{}
	for _, m := range migrations() {
		if seen[m.version] {
			t.Fatalf("version %d used twice", m.version)
		}
		seen[m.version] = true
	}
	for _, base := range []int{deployBase, alertBase} {
		if !seen[base+1] {
			t.Errorf("no migration numbered %d", base+1)
		}
	}
	if len(runMigrations()) >= deployBase || len(deployMigrations()) >= alertBase-deployBase {
		t.Error("an area outgrew its version range")
	}
}
