package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// mirrors keeps the server's bare copies of the repositories runs come
// from (state directory's mirrors/), so a run's worktree is never made in
// a user's repository, and a webhook's commit can be fetched from its
// clone URL. One fetch per mirror at a time.
type mirrors struct {
	dir string
	mu  sync.Mutex
	per map[string]*sync.Mutex
}

func (m *mirrors) lock(path string) func() {
	m.mu.Lock()
	if m.per == nil {
		m.per = map[string]*sync.Mutex{}
	}
	l := m.per[path]
	if l == nil {
		l = &sync.Mutex{}
		m.per[path] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// pathFor is the mirror of source (a path or a URL).
func (m *mirrors) pathFor(source string) string {
	sum := sha256.Sum256([]byte(source))
	base := strings.TrimSuffix(filepath.Base(strings.TrimRight(source, "/")), ".git")
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, base)
	return filepath.Join(m.dir, clean+"-"+hex.EncodeToString(sum[:])[:12]+".git")
}

// fetch brings source's branches and tags into its mirror (created when
// missing) and returns the mirror's path.
func (m *mirrors) fetch(ctx context.Context, source string) (string, error) {
	path := m.pathFor(source)
	defer m.lock(path)()
	if _, err := os.Stat(filepath.Join(path, "HEAD")); err != nil {
		if err := os.MkdirAll(m.dir, 0o700); err != nil {
			return "", err
		}
		if _, err := git(ctx, "", "init", "--quiet", "--bare", path); err != nil {
			return "", err
		}
	}
	if _, err := git(ctx, path, "fetch", "--quiet", "--force", "--prune", "--no-write-fetch-head", source,
		"+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"); err != nil {
		return "", fmt.Errorf("fetch %s: %w", source, err)
	}
	return path, nil
}

// ensure returns source's mirror holding every one of commits, fetching
// only when one is missing (a local repository's new commits, a webhook's).
func (m *mirrors) ensure(ctx context.Context, source string, commits ...string) (string, error) {
	path := m.pathFor(source)
	if len(commits) > 0 && hasCommits(ctx, path, commits) {
		return path, nil
	}
	return m.fetch(ctx, source)
}

// hasCommits says whether the repository at gitDir has every commit.
func hasCommits(ctx context.Context, gitDir string, commits []string) bool {
	if _, err := os.Stat(filepath.Join(gitDir, "HEAD")); err != nil {
		return false
	}
	args := []string{"cat-file", "-e"}
	for _, c := range commits {
		if _, err := git(ctx, gitDir, append(args, c+"^{commit}")...); err != nil {
			return false
		}
	}
	return true
}

// git runs git with --git-dir gitDir (none when "") and returns its
// trimmed output; the error carries git's message.
func git(ctx context.Context, gitDir string, args ...string) (string, error) {
	if gitDir != "" {
		args = append([]string{"--git-dir", gitDir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	// No prompt for credentials, and only transports that fetch (never
	// ext::, which runs a command named in a URL).
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ALLOW_PROTOCOL=file:git:http:https:ssh")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// addWorktree checks commit of mirror out into dir, detached.
func addWorktree(ctx context.Context, mirror, dir, commit string) error {
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	_, err := git(ctx, mirror, "worktree", "add", "--quiet", "--detach", "--force", dir, commit)
	return err
}

// removeWorktree deletes dir and the mirror's record of it.
func removeWorktree(ctx context.Context, mirror, dir string) error {
	err := os.RemoveAll(dir)
	if mirror != "" {
		if _, perr := git(context.WithoutCancel(ctx), mirror, "worktree", "prune"); err == nil {
			err = perr
		}
	}
	return err
}

// showFile is the content of path at commit of gitDir.
func showFile(ctx context.Context, gitDir, commit, path string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", "--git-dir", gitDir, "show", commit+":"+filepath.ToSlash(path))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git show %s:%s: %v: %s", ShortID(commit), path, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
