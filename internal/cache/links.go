package cache

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tugdev/tug/internal/pipeline"
)

// A job's workspace is untrusted: a job (in a container too, whose
// workspace is the host's directory) can plant symlinks in it. Artifacts
// and cache entries are therefore read and written only through an
// os.Root of the workspace (or of the export directory), which never
// follows a link out of it, and a symlink among the artifacts is kept as
// a link, never as a copy of what it points at. A link leading out of the
// workspace is refused: storing it would be harmless, but it is almost
// always a mistake (or an attempt), and the job author should hear of it.

// linkMode is the mode artifacts that are symlinks are stored with.
const linkMode = fs.ModeSymlink | 0o777

// check rejects a stored artifact record that could not have been
// written by collect: a bad path, a bad digest, or a link out of the
// directory it is restored into.
func (a Artifact) check() error {
	if !fs.ValidPath(a.Path) || a.Path == "." {
		return fmt.Errorf("artifact path %q: %w", a.Path, ErrCorrupt)
	}
	if a.Mode&fs.ModeSymlink != 0 || a.Link != "" {
		if a.Link == "" || a.Blob != "" || !linkStaysInside(a.Path, a.Link) {
			return fmt.Errorf("artifact %s: link to %q: %w", a.Path, a.Link, ErrCorrupt)
		}
		return nil
	}
	if !isDigest(a.Blob) {
		return fmt.Errorf("artifact %s: blob %q: %w", a.Path, a.Blob, ErrCorrupt)
	}
	return nil
}

// linkStaysInside reports whether a relative link target, placed at rel
// (a slash path), names a path inside the directory rel is relative to.
func linkStaysInside(rel, target string) bool {
	if target == "" || path.IsAbs(target) || strings.ContainsRune(target, 0) {
		return false
	}
	p := path.Join(path.Dir(rel), target)
	return p != ".." && !strings.HasPrefix(p, "../")
}

// linkArtifact reads the symlink at rel and returns its target as a link
// inside the workspace: relative targets as written, absolute ones into
// the workspace (a container job's workspace has the host's path) made
// relative. A target leading out wraps pipeline.ErrOutsideWorkspace.
func linkArtifact(root *os.Root, dir, rel string) (string, error) {
	target, err := root.Readlink(filepath.FromSlash(rel))
	if err != nil {
		return "", err
	}
	t := filepath.ToSlash(target)
	if filepath.IsAbs(target) {
		t = ""
		for _, base := range workspaceBases(dir) {
			if r, err := filepath.Rel(base, filepath.Clean(target)); err == nil && (r == "." || filepath.IsLocal(r)) {
				if t, err = filepath.Rel(filepath.Dir(filepath.FromSlash(rel)), r); err == nil {
					t = filepath.ToSlash(t)
					break
				}
				t = ""
			}
		}
	}
	if t == "" || !linkStaysInside(rel, t) {
		return "", fmt.Errorf("%s is a symbolic link to %s, which leads %w; artifacts keep links only to paths inside it",
			rel, target, pipeline.ErrOutsideWorkspace)
	}
	return t, nil
}

// workspaceBases are the absolute paths a workspace is known by: as given
// and with its symlinks resolved.
func workspaceBases(dir string) []string {
	var out []string
	if a, err := filepath.Abs(dir); err == nil {
		out = append(out, a)
	}
	if r, err := filepath.EvalSymlinks(dir); err == nil && (len(out) == 0 || r != out[0]) {
		out = append(out, r)
	}
	return out
}

// openInside opens the regular file at rel for reading, refusing to
// follow a symlink out of the root (or at rel itself: the walk saw a
// regular file there, a link now means it was swapped).
func openInside(root *os.Root, rel string) (*os.File, fs.FileInfo, error) {
	f, err := root.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|noFollow, 0)
	if err != nil {
		return nil, nil, outsideErr(rel, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is no longer a regular file", rel)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// outsideErr makes an os.Root refusal (a path through a link out of the
// root) say so and wrap pipeline.ErrOutsideWorkspace.
func outsideErr(rel string, err error) error {
	if err != nil && strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%s passes through a symbolic link that leads %w", rel, pipeline.ErrOutsideWorkspace)
	}
	return err
}

// restoreLink puts a link artifact at rel under root, replacing what is
// there (by rename, never writing through it) unless it already is that
// link.
func restoreLink(root *os.Root, a Artifact) error {
	rel := filepath.FromSlash(a.Path)
	if cur, err := root.Readlink(rel); err == nil && cur == a.Link {
		return nil
	}
	return replaceInside(root, rel, func(tmp string) error {
		return root.Symlink(a.Link, tmp)
	})
}

// restoreBlob writes a file artifact's blob at rel under root, replacing
// what is there by rename, so a reader never sees half a file and a link
// in its place is replaced rather than written through.
func restoreBlob(root *os.Root, a Artifact, src io.Reader) error {
	return replaceInside(root, filepath.FromSlash(a.Path), func(tmp string) error {
		f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, 0o600)
		if err != nil {
			return err
		}
		n, err := io.Copy(f, src)
		if err == nil && n != a.Size {
			err = fmt.Errorf("blob %s has %d bytes, want %d: %w", shortKey(a.Blob), n, a.Size, ErrCorrupt)
		}
		if err == nil {
			err = f.Chmod(a.Mode.Perm())
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

// replaceInside creates rel's parent directories under root, has create
// make a temporary file beside rel, and renames it over rel.
func replaceInside(root *os.Root, rel string, create func(tmp string) error) error {
	dir := filepath.Dir(rel)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return outsideErr(filepath.ToSlash(rel), err)
	}
	tmp := filepath.Join(dir, restoreTmpPrefix+rand.Text())
	err := create(tmp)
	if err == nil {
		err = root.Rename(tmp, rel)
	}
	if err != nil {
		if rerr := root.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return outsideErr(filepath.ToSlash(rel), err)
	}
	return nil
}

// restoreTmpPrefix names the temporary files a restore writes beside the
// artifacts.
const restoreTmpPrefix = ".tug-restore-"
