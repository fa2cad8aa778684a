package cli

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
)

// gitInfo is what the workspace's git checkout says about the run.
type gitInfo struct {
	Branch, Commit, Tag string
}

// readGitInfo asks git for the commit, branch and tag of dir's checkout
// with one cheap command: the HEAD commit and its decorations
// ("HEAD -> main, tag: v1.2.0, origin/main"). Outside a repository, in
// one without commits, or without git, every field is quietly empty. A
// detached HEAD has no branch; of several tags the first is taken.
func readGitInfo(ctx context.Context, dir string) gitInfo {
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--no-show-signature", "--no-color",
		"--format=%H%n%D", "HEAD", "--")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return gitInfo{}
	}
	return parseGitLog(out.String())
}

// parseGitLog reads "<sha>\n<decorations>" as printed by readGitInfo.
func parseGitLog(s string) gitInfo {
	commit, decorations, _ := strings.Cut(strings.TrimSpace(s), "\n")
	info := gitInfo{Commit: strings.TrimSpace(commit)}
	for _, d := range strings.Split(decorations, ",") {
		d = strings.TrimSpace(d)
		switch {
		case strings.HasPrefix(d, "HEAD -> "):
			info.Branch = strings.TrimPrefix(d, "HEAD -> ")
		case strings.HasPrefix(d, "tag: ") && info.Tag == "":
			info.Tag = strings.TrimPrefix(d, "tag: ")
		}
	}
	return info
}
