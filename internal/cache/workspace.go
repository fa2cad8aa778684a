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

	"github.com/bmatcuk/doublestar/v4"
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
	// stateRel is the state directory relative to the workspace, "" when
	// it lies outside.
	stateRel string
}

func newWorkspaceFS(dir, stateDir string) workspaceFS {
	w := workspaceFS{fsys: os.DirFS(dir)}
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
// select. A matched directory stands for every file under it. Symlinks are
// never followed: followLinks=false reports them as kindSymlink;
// followLinks=true keeps those that point at a regular file as kindFile
// and drops the rest.
func expand(w workspaceFS, dir string, patterns []string, followLinks bool) ([]match, error) {
	seen := map[string]fileKind{}
	add := func(p string, d fs.FileMode) error {
		switch {
		case d.IsRegular():
			seen[p] = kindFile
		case d&fs.ModeSymlink != 0:
			if !followLinks {
				seen[p] = kindSymlink
				return nil
			}
			fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p)))
			if err == nil && fi.Mode().IsRegular() {
				seen[p] = kindFile
			}
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
		literal := !strings.ContainsAny(pat, "*?[{\\")
		err := doublestar.GlobWalk(w, pat, func(m string, d fs.DirEntry) error {
			if w.hidden(m) {
				return nil
			}
			mode := d.Type()
			if literal {
				// A literal pattern's entry comes from Stat, which
				// follows symlinks: look at the path itself.
				fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(m)))
				if err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						return nil
					}
					return err
				}
				mode = fi.Mode()
			}
			if !mode.IsDir() {
				return add(m, mode)
			}
			return fs.WalkDir(w, m, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if d.IsDir() {
					return nil
				}
				return add(p, d.Type())
			})
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
