package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tugdev/tug/internal/pipeline"
)

// fileKind says how a matched workspace path takes part in a key.
type fileKind int

const (
	kindFile    fileKind = iota // a regular file: its content
	kindSymlink                 // a symlink: its target path, never followed
)

// match is one workspace file a pattern selected.
type match struct {
	Path string // slash-separated, relative to the workspace
	Kind fileKind
}

// workspaceFS hides the version control and tug state directories from
// globbing, so `**` never walks (or hashes) them.
type workspaceFS struct {
	fsys fs.FS
	dir  string
	// stateRel is the state directory relative to the workspace, "" when
	// it lies outside.
	stateRel string
}

func newWorkspaceFS(dir, stateDir string) workspaceFS {
	w := workspaceFS{fsys: os.DirFS(dir), dir: dir}
	if stateDir != "" {
		ad, err1 := filepath.Abs(dir)
		as, err2 := filepath.Abs(stateDir)
		if err1 == nil && err2 == nil {
			if rel, err := filepath.Rel(ad, as); err == nil && rel != "." && fs.ValidPath(filepath.ToSlash(rel)) {
				w.stateRel = filepath.ToSlash(rel)
			}
		}
	}
	return w
}

// hidden reports whether a workspace path is under .git, .tug or the state
// directory.
func (w workspaceFS) hidden(name string) bool {
	if name == "." {
		return false
	}
	for part := range strings.SplitSeq(name, "/") {
		if part == ".git" || part == ".tug" {
			return true
		}
	}
	return w.stateRel != "" && (name == w.stateRel || strings.HasPrefix(name, w.stateRel+"/"))
}

func (w workspaceFS) notExist(op, name string) error {
	return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
}

// Open implements fs.FS.
func (w workspaceFS) Open(name string) (fs.File, error) {
	if w.hidden(name) {
		return nil, w.notExist("open", name)
	}
	return w.fsys.Open(name)
}

// Stat implements fs.StatFS.
func (w workspaceFS) Stat(name string) (fs.FileInfo, error) {
	if w.hidden(name) {
		return nil, w.notExist("stat", name)
	}
	return fs.Stat(w.fsys, name)
}

// ReadDir implements fs.ReadDirFS, leaving hidden entries out.
func (w workspaceFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if w.hidden(name) {
		return nil, w.notExist("readdir", name)
	}
	ents, err := fs.ReadDir(w.fsys, name)
	if err != nil {
		return nil, err
	}
	out := ents[:0]
	for _, e := range ents {
		if !w.hidden(path.Join(name, e.Name())) {
			out = append(out, e)
		}
	}
	return out, nil
}

// checkPattern rejects globs that are malformed or reach outside the
// workspace.
func checkPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty pattern: %w", ErrBadPattern)
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return fmt.Errorf("%q is absolute; patterns are relative to the workspace: %w", p, ErrBadPattern)
	case slices.Contains(strings.Split(p, "/"), ".."):
		return fmt.Errorf("%q leaves the workspace: %w", p, ErrBadPattern)
	case !doublestar.ValidatePattern(p):
		return fmt.Errorf("%q is not a valid glob: %w", p, ErrBadPattern)
	}
	return nil
}

// expand returns the sorted, de-duplicated workspace files the patterns
// select. A matched directory stands for every file under it. Symlinks
// are never followed: a matched one is reported as kindSymlink. A fixed
// leading directory of a pattern that is a symlink is followed (see
// checkPrefix for where that must not lead).
func expand(w workspaceFS, dir string, patterns []string) ([]match, error) {
	seen := map[string]fileKind{}
	add := func(p string, d fs.FileMode) error {
		switch {
		case d.IsRegular():
			seen[p] = kindFile
		case d&fs.ModeSymlink != 0:
			seen[p] = kindSymlink
		}
		return nil
	}
	for _, pat := range patterns {
		if err := checkPattern(pat); err != nil {
			return nil, err
		}
		pat = strings.TrimPrefix(path.Clean(pat), "./")
		if done, err := walkTree(w, dir, pat, add); done || err != nil {
			if err != nil {
				return nil, fmt.Errorf("glob %q: %w", pat, err)
			}
			continue
		}
		walkDir := func(m string) error {
			return fs.WalkDir(w, m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return nil
				}
				return add(p, d.Type())
			})
		}
		if !strings.ContainsAny(pat, "*?[{\\") {
			// A literal path: look at the path itself, so a symlink
			// (dangling or not) is found as one, never followed.
			if w.hidden(pat) {
				continue
			}
			fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(pat)))
			switch {
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
				continue
			case err != nil:
				return nil, fmt.Errorf("glob %q: %w", pat, err)
			case fi.IsDir():
				err = walkDir(pat)
			default:
				err = add(pat, fi.Mode())
			}
			if err != nil {
				return nil, fmt.Errorf("glob %q: %w", pat, err)
			}
			continue
		}
		err := doublestar.GlobWalk(w, pat, func(m string, d fs.DirEntry) error {
			if w.hidden(m) {
				return nil
			}
			if d.IsDir() {
				return walkDir(m)
			}
			return add(m, d.Type())
		}, doublestar.WithNoFollow())
		if err != nil {
			return nil, fmt.Errorf("glob %q: %w", pat, err)
		}
	}
	out := make([]match, 0, len(seen))
	for p, k := range seen {
		out = append(out, match{Path: p, Kind: k})
	}
	slices.SortFunc(out, func(a, b match) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// checkPrefix refuses a pattern whose fixed leading directories (those
// before its first wildcard and its last element) pass through a symlink
// that resolves outside the workspace, wrapping
// pipeline.ErrOutsideWorkspace: expand would follow it (walks below a
// wildcard never do). Artifacts must not be collected from there; inputs
// may be (a linked vendor tree is only hashed). Such links are rare, so
// the cheap Lstat of each leading directory is all most patterns cost.
func (w workspaceFS) checkPrefix(pat string) error {
	pat = strings.TrimPrefix(path.Clean(pat), "./")
	segs := strings.Split(pat, "/")
	cur := ""
	for _, s := range segs[:len(segs)-1] {
		if strings.ContainsAny(s, "*?[{\\") {
			return nil
		}
		cur = path.Join(cur, s)
		p := filepath.Join(w.dir, filepath.FromSlash(cur))
		fi, err := os.Lstat(p)
		if err != nil {
			return nil // missing (no match) or unreadable (the walk says so)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		inside, err := w.resolvesInside(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a dangling link: nothing matches
		}
		if !inside {
			target, _ := os.Readlink(p)
			return fmt.Errorf("%s is a symbolic link to %s, which leads %w", cur, target, pipeline.ErrOutsideWorkspace)
		}
	}
	return nil
}

// resolvesInside follows every symlink of an absolute path under the
// workspace and reports whether it ends inside the workspace.
func (w workspaceFS) resolvesInside(p string) (bool, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false, err
	}
	base, err := filepath.EvalSymlinks(w.dir)
	if err != nil {
		return false, err
	}
	rel, err := filepath.Rel(base, real)
	return err == nil && (rel == "." || filepath.IsLocal(rel)), nil
}

// walkTree is expand's fast path for the most common input pattern, a
// directory and everything under it ("src/**"): one walk of the tree
// instead of a glob walk that also re-walks the directory it matched.
// done is false when the pattern is not of that form, or its directory
// is not a plain one (a symlink, say), and the glob walk must decide.
func walkTree(w workspaceFS, dir, pat string, add func(string, fs.FileMode) error) (done bool, err error) {
	root, ok := strings.CutSuffix(pat, "/**")
	if !ok || root == "" || strings.ContainsAny(root, "*?[{\\") || w.hidden(root) {
		return false, nil
	}
	fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(root)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil || !fi.IsDir():
		return false, nil
	}
	return true, fs.WalkDir(w, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		return add(p, d.Type())
	})
}
