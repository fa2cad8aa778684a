package cache

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// restoreFiles puts artifacts from their blobs (and links) under dir,
// creating it if needed. A file already there with the same content and
// mode is left alone (its mtime too, so tools that look at mtimes do not
// rebuild); anything else is replaced by rename, so a reader never sees
// half a file. Nothing is written through a symlink leading out of dir.
func (c *Cache) restoreFiles(ctx context.Context, arts []Artifact, dir string) error {
	if len(arts) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, a := range arts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := a.check(); err != nil {
			return err
		}
		if a.Link != "" {
			err = restoreLink(root, a)
		} else if !c.same(root, dir, a) {
			err = c.restoreFile(root, a)
		}
		if err != nil {
			return fmt.Errorf("restore %s: %w", a.Path, err)
		}
	}
	return nil
}

// same reports whether dir already holds exactly the artifact.
func (c *Cache) same(root *os.Root, dir string, a Artifact) bool {
	fi, err := root.Lstat(filepath.FromSlash(a.Path))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != a.Size || fi.Mode().Perm() != a.Mode.Perm() {
		return false
	}
	h, err := c.hashStatted(filepath.Join(dir, filepath.FromSlash(a.Path)))
	return err == nil && h == a.Blob
}

func (c *Cache) restoreFile(root *os.Root, a Artifact) error {
	src, err := c.blobs.open(a.Blob)
	if err != nil {
		return err
	}
	defer src.Close()
	return restoreBlob(root, a, src)
}
