package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"
)

// ErrUnsafeStateDir means the state directory cannot be made private to
// the user tug runs as (it belongs to another user, say).
var ErrUnsafeStateDir = errors.New("state directory not private")

// privateMask are the permission bits a state directory and the files in
// it must not have: any access for group and others.
const privateMask fs.FileMode = 0o077

// PrepareStateDir creates the state directory (0700) or makes an existing
// one private, and returns what it changed that others could reach ("…
// was 0755, now 0700") for a warning.
//
// The state directory holds the history, the logs, release copies, the
// instances' state and output and, usually, the local secrets file. One
// created beforehand (by `mkdir .tug` to put secrets.env in, with the
// usual umask) lets every local user read them all. So tug tightens,
// rather than refuses to start: the directory is tug's own, and tightening
// is what its owner wants. The directory, the directories and files
// directly in it, the logs database, and the given files (the
// repository's secrets file, which may live elsewhere) and their
// directories lose every permission bit of group and others; deeper
// content (release copies, cache blobs) is then out of other users' reach
// without being changed. A directory owned by another user is refused
// (wrapping ErrUnsafeStateDir): tug must not keep secrets where someone
// else decides who reads them.
func PrepareStateDir(dir string, files ...string) (changed []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%w: %s belongs to user %d, not to the user tug runs as (%d); tug keeps its history and secrets there, so it must be its own (chown it, or use another state directory)",
			ErrUnsafeStateDir, dir, st.Uid, os.Geteuid())
	}
	// Behind a private directory, nothing in it was in reach of others:
	// what is tightened there (entries the server made since it started,
	// with the usual umask) is not worth a warning.
	hidden := fi.Mode().Perm()&privateMask == 0
	inside := func(p string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
	}
	tighten := func(p string) error {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().Perm()&privateMask == 0 {
			return nil
		}
		perm := fi.Mode().Perm() &^ privateMask
		if err := os.Chmod(p, perm); err != nil {
			return fmt.Errorf("%w: make %s private: %w", ErrUnsafeStateDir, p, err)
		}
		if !hidden || !inside(p) {
			changed = append(changed, fmt.Sprintf("%s was %04o, now %04o", p, fi.Mode().Perm(), perm))
		}
		return nil
	}
	paths := []string{dir}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for _, e := range ents {
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	if more, err := filepath.Glob(filepath.Join(dir, "logs", "logs.db*")); err == nil {
		paths = append(paths, more...)
	}
	for _, f := range files {
		if _, err := os.Lstat(f); err == nil {
			paths = append(paths, filepath.Dir(f), f)
		}
	}
	for _, p := range paths {
		if err := tighten(p); err != nil {
			return changed, err
		}
	}
	return changed, nil
}

// History is what a state directory's database records, as far as the
// server's start-up checks need it.
type History struct {
	// Size is the database file's size in bytes, -1 when it is missing.
	Size int64
	// Releases counts the releases recorded; MaxRelease is the highest
	// release number ("r7" is 7), 0 without any.
	Releases   int
	MaxRelease int64
	// DeployRecords counts the deploy engine's records (what is live
	// where, with its instances).
	DeployRecords int
}

// ReadHistory reads what dir's database records without creating or
// changing it (no schema is written): a missing or empty file records
// nothing. Call it before Open, which would turn an empty file into a
// new, empty history.
func ReadHistory(ctx context.Context, dir string) (History, error) {
	p := filepath.Join(dir, FileName)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return History{Size: -1}, nil
	}
	if err != nil {
		return History{}, fmt.Errorf("store: %w", err)
	}
	h := History{Size: fi.Size()}
	if h.Size == 0 {
		return h, nil
	}
	conn, err := sqlite.NewConnector(p + "?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return h, fmt.Errorf("store: read %s: %w", p, err)
	}
	db := sql.OpenDB(persistWAL{conn})
	defer db.Close()
	var max sql.NullInt64
	err = db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM releases), (SELECT MAX(seq) FROM releases),
		(SELECT COUNT(*) FROM deploy_records)`).Scan(&h.Releases, &max, &h.DeployRecords)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return h, nil // a database from before releases, or one never migrated
	}
	if err != nil {
		return h, fmt.Errorf("store: read %s: %w", p, err)
	}
	h.MaxRelease = max.Int64
	return h, nil
}
