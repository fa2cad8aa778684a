package trigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tugdev/tug/internal/kit"
)

// GitDir is the git directory holding dir's refs: the common directory
// of a work tree (its .git, also for a linked worktree), or a bare
// repository itself.
func GitDir(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "--path-format=absolute", "--git-common-dir").Output()
	if err != nil {
		return "", fmt.Errorf("%s is not in a git repository: %w", dir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Refs maps each branch and tag ref of a repository to its commit.
type Refs map[string]string

// ReadRefs reads the branches and tags of the repository at gitDir; an
// annotated tag maps to the commit it points at.
func ReadRefs(ctx context.Context, gitDir string) (Refs, error) {
	cmd := exec.CommandContext(ctx, "git", "--git-dir", gitDir, "for-each-ref",
		"--format=%(refname) %(objectname) %(*objectname)", "refs/heads", "refs/tags")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read refs of %s: %v: %s", gitDir, err, strings.TrimSpace(stderr.String()))
	}
	refs := Refs{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch len(f) {
		case 2:
			refs[f[0]] = f[1]
		case 3:
			refs[f[0]] = f[2]
		}
	}
	return refs, nil
}

// Diff lists what moved from old to new: new refs, refs at a new
// commit, and deleted refs (New ""), sorted by ref.
func Diff(old, new Refs) []Push {
	var out []Push
	for ref, sha := range new {
		if old[ref] != sha {
			out = append(out, Push{Ref: ref, Old: old[ref], New: sha})
		}
	}
	for ref, sha := range old {
		if _, ok := new[ref]; !ok {
			out = append(out, Push{Ref: ref, Old: sha})
		}
	}
	slices.SortFunc(out, func(a, b Push) int { return strings.Compare(a.Ref, b.Ref) })
	return out
}

// Watcher reports the pushes of one repository: every ref that moved
// since it last looked, also across server restarts (the refs it last
// saw are kept in a file).
type Watcher struct {
	// GitDir is the repository's git directory (see GitDir).
	GitDir string
	// StateFile keeps the refs last seen.
	StateFile string
	// OnPush is called, from Run's goroutine, with what moved; a ref is
	// recorded as seen once OnPush returned.
	OnPush func(ctx context.Context, pushes []Push)
	// Debounce is how long a burst of ref changes is let settle (default
	// 20ms: one `git push` writes several files).
	Debounce time.Duration
	Logger   *slog.Logger
}

// Run watches until ctx ends. At start it reports what moved while
// nothing watched (a first start only records the refs). ready, if not
// nil, is closed once the watch is in place.
func (w *Watcher) Run(ctx context.Context, ready chan<- struct{}) error {
	log := w.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	debounce := w.Debounce
	if debounce <= 0 {
		debounce = 20 * time.Millisecond
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	// The git directory itself for packed-refs (not its subdirectories:
	// objects are many), and the loose refs' trees.
	if err := fw.Add(w.GitDir); err != nil {
		return err
	}
	for _, d := range []string{filepath.Join(w.GitDir, "refs", "heads"), filepath.Join(w.GitDir, "refs", "tags")} {
		if err := addTree(fw, d); err != nil {
			return err
		}
	}
	seen, first, err := w.load()
	if err != nil {
		log.Warn("trigger: the refs last seen are unreadable; taking the current ones as seen", "file", w.StateFile, "err", err)
		first = true
	}
	if ready != nil {
		close(ready)
	}
	check := func() {
		now, err := ReadRefs(ctx, w.GitDir)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("trigger: reading refs", "err", err)
			}
			return
		}
		if first {
			first = false
		} else if pushes := Diff(seen, now); len(pushes) > 0 {
			w.OnPush(ctx, pushes)
		}
		seen = now
		if err := w.save(seen); err != nil {
			log.Warn("trigger: recording the refs seen", "file", w.StateFile, "err", err)
		}
	}
	check()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op&fsnotify.Create != 0 {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					_ = addTree(fw, ev.Name) // a branch named a/b
				}
			}
			if strings.HasSuffix(ev.Name, ".lock") {
				continue
			}
			timer.Reset(debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			log.Warn("trigger: watching refs", "err", err)
		case <-timer.C:
			check()
		}
	}
}

// addTree watches dir and every directory under it; a missing dir is
// left out.
func addTree(fw *fsnotify.Watcher, dir string) error {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return fw.Add(p)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (w *Watcher) load() (Refs, bool, error) {
	b, err := os.ReadFile(w.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	var r Refs
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false, err
	}
	return r, false, nil
}

func (w *Watcher) save(r Refs) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(w.StateFile), 0o700); err != nil {
		return err
	}
	return kit.WriteFile(w.StateFile, b, 0o600)
}
