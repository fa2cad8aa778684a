package cli

import (
	"context"
	"os/exec"
	"testing"
)

func TestParseGitLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want gitInfo
	}{
		{"abc\nHEAD -> main, tag: v2, tag: v1, origin/main\n", gitInfo{Branch: "main", Commit: "abc", Tag: "v2"}},
		{"abc\nHEAD, tag: v1, main", gitInfo{Commit: "abc", Tag: "v1"}},
		{"abc\nHEAD -> feature/x", gitInfo{Branch: "feature/x", Commit: "abc"}},
		{"abc\n", gitInfo{Commit: "abc"}},
		{"", gitInfo{}},
	}
	for _, tt := range tests {
		if got := parseGitLog(tt.in); got != tt.want {
			t.Errorf("parseGitLog(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestReadGitInfo(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	ctx := context.Background()
	dir := t.TempDir()
	if got := readGitInfo(ctx, dir); got != (gitInfo{}) {
		t.Errorf("outside a repository: %+v", got)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "-q", "-b", "trunk")
	if got := readGitInfo(ctx, dir); got != (gitInfo{}) {
		t.Errorf("repository without commits: %+v", got)
	}
	run("commit", "-q", "--allow-empty", "-m", "first")
	run("tag", "-a", "v1.0.0", "-m", "release")
	sha := run("rev-parse", "HEAD")
	sha = sha[:len(sha)-1]
	want := gitInfo{Branch: "trunk", Commit: sha, Tag: "v1.0.0"}
	if got := readGitInfo(ctx, dir); got != want {
		t.Errorf("tagged commit: %+v, want %+v", got, want)
	}
	run("commit", "-q", "--allow-empty", "-m", "second")
	run("checkout", "-q", "--detach")
	got := readGitInfo(ctx, dir)
	if got.Branch != "" || got.Tag != "" || got.Commit == sha || len(got.Commit) != 40 {
		t.Errorf("detached untagged commit: %+v", got)
	}
}
