package cache

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/kit"
)

// restoreFiles copies artifacts from their blobs into dir. A file already
// there with the same content and mode is left alone (its mtime too, so
// tools that look at mtimes do not rebuild); anything else is replaced by
// rename, so a reader never sees half a file.
func (c *Cache) restoreFiles(ctx context.Context, arts []Artifact, dir string) error {
	for _, a := range arts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !fs.ValidPath(a.Path) || a.Path == "." {
			return fmt.Errorf("artifact path %q: %w", a.Path, ErrCorrupt)
		}
		dst := filepath.Join(dir, filepath.FromSlash(a.Path))
		if c.same(dst, a) {
			continue
		}
		if err := c.restoreFile(a, dst); err != nil {
			return fmt.Errorf("restore %s: %w", a.Path, err)
		}
	}
	return nil
}

// same reports whether dst already holds exactly the artifact.
func (c *Cache) same(dst string, a Artifact) bool {
	fi, err := os.Lstat(dst)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != a.Size || fi.Mode().Perm() != a.Mode.Perm() {
		return false
	}
	h, err := c.hashStatted(dst)
	return err == nil && h == a.Blob
}

func (c *Cache) restoreFile(a Artifact, dst string) error {
	src, err := c.blobs.open(a.Blob)
	if err != nil {
		return err
	}
	defer src.Close()
	// Not fsynced: a restore that a power cut loses is done again.
	return writeFile(dst, a.Mode.Perm(), kit.SyncNone, func(w io.Writer) error {
		n, err := io.Copy(w, src)
		if err == nil && n != a.Size {
			err = fmt.Errorf("blob %s has %d bytes, want %d: %w", shortKey(a.Blob), n, a.Size, ErrCorrupt)
		}
		return err
	})
}

// fileMode is the permission bits an artifact is stored with.
func fileMode(p string) (fs.FileMode, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return 0, err
	}
	return fi.Mode().Perm(), nil
}
