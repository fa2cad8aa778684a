package cache

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix starts the name of every temporary file the cache writes, so
// readers skip them and garbage collection can remove crash leftovers.
const tmpPrefix = ".tmp-"

// isTemp reports whether a directory entry name is a temporary file.
func isTemp(name string) bool { return strings.HasPrefix(name, tmpPrefix) }

// writeAtomic writes a file by temp file, fsync and rename: readers see the
// old content or the new, never a part. syncDir also fsyncs the directory
// so the rename itself survives a power loss.
func writeAtomic(path string, perm os.FileMode, syncDir bool, write func(io.Writer) error) error {
	return writeFile(path, perm, true, syncDir, write)
}

// writeFile is writeAtomic with the file's fsync optional. Without it the
// file still appears whole or not at all to every reader and survives a
// crash of tug itself; only an OS crash or power cut can lose it (or
// leave it empty), so it is for records that can be rebuilt or lost
// without harm.
func writeFile(path string, perm os.FileMode, sync, syncDir bool, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if syncDir {
		return syncDirectory(dir)
	}
	return nil
}

// writeJSON stores v as indented JSON, atomically. The directory is not
// fsynced: a rename lost to a power cut leaves the previous state (a miss,
// an older explanation), never a torn file, and costs no extra sync on the
// hot path of a cache hit.
func writeJSON(path string, v any) error {
	return writeJSONFile(path, v, true)
}

// writeJSONFile is writeJSON with the fsync optional (see writeFile).
func writeJSONFile(path string, v any, sync bool) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return writeFile(path, 0o644, sync, false, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// readJSON loads a JSON state file; a file that does not decode wraps
// ErrCorrupt and names the file.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	return nil
}

func syncDirectory(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// WriteAtomic writes a file whole or not at all (temp file, fsync,
// rename, directory fsync), for other rooms' files too.
func WriteAtomic(path string, perm os.FileMode, write func(io.Writer) error) error {
	return writeAtomic(path, perm, true, write)
}
