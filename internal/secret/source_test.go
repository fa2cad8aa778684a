package secret

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func writeSecretsFile(t *testing.T, dir, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, ".tug"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LocalFile), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSecretsFile(t, dir, `# local secrets
API_KEY=from-file
QUOTED="with spaces"
SINGLE='x=y'
export EXPORTED=yes

ENV_WINS=file
`)
	env := map[string]string{"ENV_WINS": "env", "ONLY_ENV": "e"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, warn, err := Resolve([]string{"API_KEY", "QUOTED", "SINGLE", "EXPORTED", "ENV_WINS", "ONLY_ENV"}, dir, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	want := map[string]string{"API_KEY": "from-file", "QUOTED": "with spaces", "SINGLE": "x=y", "EXPORTED": "yes", "ENV_WINS": "env", "ONLY_ENV": "e"}
	for k, w := range want {
		if got[k].Reveal() != w {
			t.Errorf("%s = %q, want %q", k, got[k].Reveal(), w)
		}
	}
}

func TestResolveMissingNamesAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, _, err := Resolve([]string{"B_MISSING", "A_MISSING", "PRESENT"}, dir, func(k string) (string, bool) { return "v", k == "PRESENT" })
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
	if !strings.Contains(err.Error(), "A_MISSING, B_MISSING") {
		t.Fatalf("error does not name all missing secrets: %v", err)
	}
}

func TestResolveBadFileDoesNotLeak(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeSecretsFile(t, dir, "OK=1\nthis line is hunter2\n")
	_, _, err := Resolve([]string{"X"}, dir, nil)
	if !errors.Is(err, ErrBadFile) || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("err = %v, want ErrBadFile at line 2", err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatal("error quotes the file content")
	}
}

func TestResolveWarnsWhenTracked(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	writeSecretsFile(t, dir, "TOKEN=abc\n")
	_, warn, err := Resolve([]string{"TOKEN"}, dir, nil)
	if err != nil || len(warn) != 0 {
		t.Fatalf("untracked: warn=%v err=%v", warn, err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", LocalFile}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	_, warn, err = Resolve([]string{"TOKEN"}, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "tracked by git") {
		t.Fatalf("warnings = %v, want tracked-by-git warning", warn)
	}
}
