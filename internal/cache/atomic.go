package cache

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/kit"
)

// writeAtomic writes a file by temp file, fsync and rename: readers see the
// old content or the new, never a part. syncDir also fsyncs the directory
// so the rename itself survives a power loss.
func writeAtomic(path string, perm os.FileMode, syncDir bool, write func(io.Writer) error) error {
	sync := kit.SyncFile
	if syncDir {
		sync = kit.SyncAll
	}
	return writeFile(path, perm, sync, write)
}

// writeFile is kit.WriteFileFrom that creates the directory. Temporary
// files start with kit.TempPrefix: readers skip them (kit.IsTemp) and
// garbage collection removes crash leftovers.
func writeFile(path string, perm os.FileMode, sync kit.Sync, write func(io.Writer) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return kit.WriteFileFrom(path, perm, sync, write)
}

// writeJSON stores v as indented JSON, atomically. The directory is not
// fsynced: a rename lost to a power cut leaves the previous state (a miss,
// an older explanation), never a torn file, and costs no extra sync on the
// hot path of a cache hit.
func writeJSON(path string, v any) error {
	return writeJSONFile(path, v, true)
}

// writeJSONFile is writeJSON with the fsync optional: without it the
// file still appears whole or not at all to every reader and survives a
// crash of tug itself (kit.SyncNone), for records that can be rebuilt or
// lost without harm.
func writeJSONFile(path string, v any, sync bool) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	level := kit.SyncNone
	if sync {
		level = kit.SyncFile
	}
	return writeFile(path, 0o644, level, func(w io.Writer) error {
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
