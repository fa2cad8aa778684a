package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/trigger"
)

// hookMarker marks a git hook tug wrote, so install may replace it.
const hookMarker = "# Written by `tug hook install`"

func (a *app) newHookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Git hooks that tell the tug server of pushes",
	}
	var repo string
	var force bool
	install := &cobra.Command{
		Use:   "install",
		Short: "Write a post-receive hook into a repository (a bare one developers push to, by default the one holding tug.yaml) that reports each push to this project's server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.installHook(cmd.Context(), repo, force)
		},
	}
	install.Flags().StringVar(&repo, "repo", "", "the repository to install the hook in (default: the one holding tug.yaml)")
	install.Flags().BoolVar(&force, "force", false, "replace a post-receive hook that tug did not write")
	receive := &cobra.Command{
		Use:    "post-receive",
		Short:  "Report the refs on standard input (\"OLD NEW REF\" lines, as git gives a post-receive hook) to the server",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.postReceive(cmd.Context(), cmd.InOrStdin())
		},
	}
	cmd.AddCommand(install, receive)
	return cmd
}

// installHook writes the post-receive hook of repo.
func (a *app) installHook(ctx context.Context, repo string, force bool) error {
	if repo == "" {
		ws, err := a.workspace()
		if err != nil {
			return err
		}
		repo = ws
	}
	gitDir, err := trigger.GitDir(ctx, absOr(repo))
	if err != nil {
		return badInput(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return err
	}
	path := filepath.Join(gitDir, "hooks", "post-receive")
	if old, err := os.ReadFile(path); err == nil && !strings.Contains(string(old), hookMarker) && !force {
		return badInputf("%s exists and tug did not write it: add `%s hook post-receive` to it yourself, or pass --force to replace it", path, exe)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	args := []string{shellQuote(exe), "--state-dir", shellQuote(a.stateDir())}
	if a.serverURL != "" {
		args = append(args, "--server", shellQuote(a.serverURL))
	}
	script := "#!/bin/sh\n" + hookMarker + ": tells the tug server about each push.\n" +
		"exec " + strings.Join(args, " ") + " hook post-receive\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := kit.WriteFile(path, []byte(script), 0o755); err != nil {
		return err
	}
	if a.jsonOut {
		a.printJSONLine(map[string]string{"hook": path})
		return nil
	}
	_, err = fmt.Fprintf(a.out, "installed %s: pushes to %s now start runs on the server of %s\n", path, gitDir, a.displayPath(a.stateDir()))
	return err
}

// postReceive reports a push to the server. It never fails the push: a
// server it cannot reach is a warning (the server's ref watch, if it
// watches this repository, still sees the push).
func (a *app) postReceive(ctx context.Context, in io.Reader) error {
	dir := os.Getenv("GIT_DIR")
	if dir == "" {
		dir = "."
	}
	dir = absOr(dir)
	req := runner.PushRequest{Repository: dir, Who: a.who()}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 {
			req.Refs = append(req.Refs, runner.RefUpdate{Old: f[0], New: f[1], Ref: f[2]})
		}
	}
	if len(req.Refs) == 0 {
		return nil
	}
	c, err := a.apiClient()
	var ans *runner.PushAnswer
	if err == nil {
		ans, err = c.Push(ctx, req)
	}
	if err != nil {
		fmt.Fprintf(a.errOut, "tug: the push was not reported to the server: %v\n", err)
		return nil
	}
	for _, r := range ans.Runs {
		fmt.Fprintf(a.errOut, "tug: run %d of %s queued for %s (%s)\n", r.ID, r.Pipeline, refName(r), runner.ShortID(r.Commit))
	}
	return nil
}

func refName(r runner.RunInfo) string {
	if r.Tag != "" {
		return "tag " + r.Tag
	}
	return r.Branch
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
