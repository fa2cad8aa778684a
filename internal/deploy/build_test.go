package deploy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A process service is exported from git at the revision into its own
// release directory (in the subdirectory holding tug.yaml), built there,
// and run from there, so releases sit side by side.
func TestGitExportAndBuild(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Replicas = 1
	svc.Build = `cat msg.txt > built.txt; echo "built in $(basename "$PWD")" >> built.txt`
	h := newHarness(t, configWith(svc))
	repo := filepath.Join(h.dir, "repo")
	app := filepath.Join(repo, "app")
	git(t, repo, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(app, "tug.yaml"), "version: 1\n")
	writeFile(t, filepath.Join(app, "msg.txt"), "one\n")
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "one")
	first := git(t, repo, "rev-parse", "HEAD")
	writeFile(t, filepath.Join(app, "msg.txt"), "two\n")
	writeFile(t, filepath.Join(app, "untracked.txt"), "not committed\n")
	git(t, repo, "commit", "-q", "-am", "two")
	second := git(t, repo, "rev-parse", "HEAD")
	h.m.opts.RepoDir = app
	h.cfg.File = filepath.Join(app, "tug.yaml")

	r1 := h.mustDeploy("")
	if r1.Revision != second {
		t.Errorf("revision %s, want HEAD %s", r1.Revision, second)
	}
	r2, err := h.m.Deploy(context.Background(), Request{Service: "web", Version: first[:8]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Revision != first {
		t.Errorf("revision %s, want %s", r2.Revision, first)
	}
	for _, c := range []struct{ id, want string }{{r1.ID, "two\nbuilt in app\n"}, {r2.ID, "one\nbuilt in app\n"}} {
		dir := filepath.Join(h.dir, "state", "releases", c.id, "app")
		got, err := os.ReadFile(filepath.Join(dir, "built.txt"))
		if err != nil || string(got) != c.want {
			t.Errorf("release %s built.txt = %q, %v; want %q", c.id, got, err, c.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "untracked.txt")); err == nil {
			t.Errorf("release %s holds an untracked file", c.id)
		}
	}
	h.rt.mu.Lock()
	lastDir := h.rt.starts[len(h.rt.starts)-1].Dir
	h.rt.mu.Unlock()
	if want := filepath.Join(h.dir, "state", "releases", r2.ID, "app"); lastDir != want {
		t.Errorf("instance ran in %s, want %s", lastDir, want)
	}

	if _, err := h.m.Deploy(context.Background(), Request{Service: "web", Version: "no-such-rev"}, nil); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "no-such-rev") {
		t.Errorf("bad version: %v", err)
	}
}

func TestBuildFailureCarriesItsOutput(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Build = "echo compiling; echo 'main.go:3: syntax error' >&2; exit 3"
	h := newHarness(t, configWith(svc))
	writeFile(t, filepath.Join(h.dir, "repo", "main.go"), "package main\n")
	writeFile(t, filepath.Join(h.dir, "repo", ".tug", "secrets.env"), "X=1\n")
	rel, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "main.go:3: syntax error") {
		t.Fatalf("err = %v", err)
	}
	if rel.Revision != "worktree" || h.release(rel.ID).Status != StatusFailed {
		t.Errorf("release %+v", h.release(rel.ID))
	}
	dir := filepath.Join(h.dir, "state", "releases", rel.ID)
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Errorf("worktree not copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".tug")); err == nil {
		t.Errorf(".tug was copied into the release")
	}
	if len(h.rt.ids()) != 0 {
		t.Errorf("instances started after a failed build")
	}
}
