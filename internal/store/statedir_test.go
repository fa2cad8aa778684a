package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// A state directory made beforehand with the usual umask (0755, files
// 0644) is made private on start: other users can then read neither the
// secrets file, nor the history, nor the release copies and logs.
func TestPrepareStateDirMakesAPreexistingDirPrivate(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	dir := filepath.Join(repo, ".tug")
	for _, d := range []string{"releases/r1/bin", "logs", "cache/blobs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]fs.FileMode{
		"secrets.env": 0o644, FileName: 0o644, FileName + "-wal": 0o644, "logs/logs.db": 0o664,
		"releases/r1/bin/app": 0o755, "cache/blobs/x": 0o444, "server.lock": 0o600,
	}
	for f, m := range files {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte("x"), m); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, m)
	}
	for _, d := range []string{"", "releases", "logs", "cache"} {
		os.Chmod(filepath.Join(dir, d), 0o755)
	}
	// A secrets file in a repository whose state lives elsewhere.
	other := filepath.Join(t.TempDir(), ".tug")
	os.MkdirAll(other, 0o755)
	os.Chmod(other, 0o755)
	os.WriteFile(filepath.Join(other, "secrets.env"), []byte("K=v\n"), 0o644)

	changed, err := PrepareStateDir(dir, filepath.Join(dir, "secrets.env"), filepath.Join(other, "secrets.env"), filepath.Join(repo, "nosuch", "secrets.env"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		"": 0o700, "releases": 0o700, "logs": 0o700, "cache": 0o700,
		"secrets.env": 0o600, FileName: 0o600, FileName + "-wal": 0o600, "logs/logs.db": 0o600, "server.lock": 0o600,
		// Deeper content is out of reach through its private parents,
		// and left as it is (a release's binaries stay executable).
		"releases/r1/bin/app": 0o755, "cache/blobs/x": 0o444, "releases/r1": 0o755,
	}
	for f, m := range want {
		if got := mode(t, filepath.Join(dir, f)); got != m {
			t.Errorf("%s: %04o, want %04o", f, got, m)
		}
	}
	if got := mode(t, other); got != 0o700 {
		t.Errorf("the other secrets file's directory: %04o", got)
	}
	if got := mode(t, filepath.Join(other, "secrets.env")); got != 0o600 {
		t.Errorf("the other secrets file: %04o", got)
	}
	if len(changed) != 10 || !strings.Contains(strings.Join(changed, "\n"), "secrets.env was 0644, now 0600") {
		t.Errorf("changed:\n%s", strings.Join(changed, "\n"))
	}
	if again, err := PrepareStateDir(dir, filepath.Join(dir, "secrets.env")); err != nil || len(again) != 0 {
		t.Fatalf("second call changed %v, %v", again, err)
	}
}

func TestPrepareStateDirCreatesItPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", ".tug")
	if changed, err := PrepareStateDir(dir); err != nil || len(changed) != 0 {
		t.Fatalf("%v %v", changed, err)
	}
	if got := mode(t, dir); got != 0o700 {
		t.Fatalf("created %04o", got)
	}
}

// A state directory of another user is refused, not used or changed.
func TestPrepareStateDirRefusesAnotherUsersDir(t *testing.T) {
	t.Parallel()
	dir := "/" // root's: another user's unless tug runs as root
	if os.Geteuid() == 0 {
		dir = filepath.Join(t.TempDir(), ".tug")
		os.Mkdir(dir, 0o755)
		if err := os.Chown(dir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
	}
	before := mode(t, dir)
	_, err := PrepareStateDir(dir)
	if !errors.Is(err, ErrUnsafeStateDir) || !strings.Contains(err.Error(), "belongs to user") {
		t.Fatalf("got %v", err)
	}
	if mode(t, dir) != before {
		t.Fatal("changed another user's directory")
	}
}

// ReadHistory reads what a database records and never creates or fills
// one: an emptied file stays empty for the server to report.
func TestReadHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	if h, err := ReadHistory(ctx, dir); err != nil || h.Size != -1 || h.Releases != 0 {
		t.Fatalf("missing: %+v %v", h, err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("ReadHistory created the database")
	}
	os.WriteFile(p, nil, 0o600)
	if h, err := ReadHistory(ctx, dir); err != nil || h.Size != 0 || h.Releases != 0 {
		t.Fatalf("empty: %+v %v", h, err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 0 {
		t.Fatal("ReadHistory wrote into the empty database")
	}
	os.Remove(p)
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := s.CreateRelease(ctx, &Release{Service: "web", Environment: "staging", Status: "live"}); err != nil {
			t.Fatal(err)
		}
	}
	s.PutDeployRecord(ctx, "state", "web", "staging", []byte("{}"))
	if h, err := ReadHistory(ctx, dir); err != nil || h.Size <= 0 || h.Releases != 3 || h.MaxRelease != 3 || h.DeployRecords != 1 {
		t.Fatalf("while open: %+v %v", h, err)
	}
	s.Close()
	if h, err := ReadHistory(ctx, dir); err != nil || h.Releases != 3 || h.MaxRelease != 3 {
		t.Fatalf("closed: %+v %v", h, err)
	}
	os.WriteFile(p, []byte("not a database, just text long enough to be read as a header......................................................................."), 0o600)
	os.Remove(p + "-wal")
	os.Remove(p + "-shm")
	if _, err := ReadHistory(ctx, dir); err == nil {
		t.Fatal("a damaged database read as a history")
	}
}

// The history and its journal are created readable by their owner only.
func TestOpenCreatesThePrivateHistory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateRun(context.Background(), &Run{Pipeline: "ci"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileName, FileName + "-wal"} {
		if got := mode(t, filepath.Join(dir, f)); got != 0o600 {
			t.Errorf("%s: %04o", f, got)
		}
	}
}

// Entries made with the usual umask inside a directory that was private
// all along (a running server's cache, sockets and logs database) were
// never in others' reach: they are tightened without a warning.
func TestPrepareStateDirTightensBehindAPrivateDirQuietly(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), ".tug")
	if _, err := PrepareStateDir(dir); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "cache"), 0o755)
	os.Chmod(filepath.Join(dir, "cache"), 0o755)
	os.MkdirAll(filepath.Join(dir, "logs"), 0o700)
	os.WriteFile(filepath.Join(dir, "logs", "logs.db"), []byte("x"), 0o644)
	os.Chmod(filepath.Join(dir, "logs", "logs.db"), 0o644)
	// A secrets file outside the state directory is still reported.
	other := filepath.Join(t.TempDir(), "secrets.env")
	os.WriteFile(other, []byte("K=v\n"), 0o644)
	os.Chmod(other, 0o644)

	changed, err := PrepareStateDir(dir, other)
	if err != nil {
		t.Fatal(err)
	}
	// (and its directory)
	if len(changed) != 2 || !strings.Contains(strings.Join(changed, "\n"), other+" was 0644, now 0600") || strings.Contains(strings.Join(changed, "\n"), dir) {
		t.Errorf("changed: %q, want only the secrets file outside and its directory", changed)
	}
	for f, m := range map[string]fs.FileMode{"cache": 0o700, "logs/logs.db": 0o600} {
		if got := mode(t, filepath.Join(dir, f)); got != m {
			t.Errorf("%s: %04o, want %04o", f, got, m)
		}
	}
}
