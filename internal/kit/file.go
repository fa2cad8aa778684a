package kit

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the name of every temporary file WriteFile and
// WriteFileFrom create beside their target, so a directory's readers can
// skip them (IsTemp) and clean-ups can remove what a crash left.
const TempPrefix = ".tmp-"

// IsTemp reports whether a directory entry's name is one of WriteFile's
// temporary files.
func IsTemp(name string) bool { return strings.HasPrefix(name, TempPrefix) }

// Sync says how much of an atomic write is forced to disk. Every level
// replaces the file whole: readers and a restarted tug see the old content
// or the new, never a part. They differ only after an OS crash or power
// cut.
type Sync int

const (
	// SyncAll fsyncs the file and its directory: once the write returns,
	// the new content survives a power cut.
	SyncAll Sync = iota
	// SyncFile fsyncs the file but not the directory: a power cut may
	// bring back the old content, never a torn or empty file.
	SyncFile
	// SyncNone fsyncs nothing, for what can be rebuilt or lost without
	// harm: a power cut may leave the old content or an empty file.
	SyncNone
)

// WriteFile replaces path with data, atomically and durably (SyncAll):
// temp file in the same directory, fsync, rename, fsync of the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileFrom(path, perm, SyncAll, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFrom replaces path with what write writes, atomically, forced
// to disk as sync says. The directory must exist. On any error the temp
// file is removed and path is left as it was.
func WriteFileFrom(path string, perm os.FileMode, sync Sync, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && sync != SyncNone {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if sync == SyncAll {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir fsyncs a directory, so the renames and removals done in it
// survive a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
