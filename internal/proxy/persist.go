package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/kit"
)

// tableFile is where the proxy keeps its table, so a restarted proxy serves
// the last routes even while the server is down; prevTableFile keeps the
// table before it, in case the current file is damaged (a disk or a hand
// that truncated it).
const (
	tableFile     = "table.json"
	prevTableFile = "table.prev.json"
)

// saveTable writes t atomically: temp file, fsync, rename, fsync dir. A
// crash at any point leaves either the old or the new table. A current
// file that reads back valid becomes the previous one first.
func saveTable(dir string, t *Table) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	cur := filepath.Join(dir, tableFile)
	if old, err := readTable(cur); err == nil && old != nil && old.Version < t.Version {
		// A hard link keeps the bytes just validated without a copy;
		// the rename swaps it in whole.
		tmp := filepath.Join(dir, "."+prevTableFile+".tmp")
		os.Remove(tmp)
		if err := os.Link(cur, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, prevTableFile)); err != nil {
			return err
		}
	}
	return kit.WriteFile(cur, append(b, '\n'), 0o600)
}

// loadTable reads the persisted table, falling back to the previous one
// when the current file is damaged; (nil, nil) when there is none.
// fellBack reports the fallback, and err then says what was wrong with
// the current file.
func loadTable(dir string) (t *Table, fellBack bool, err error) {
	t, err = readTable(filepath.Join(dir, tableFile))
	if err == nil {
		return t, false, nil
	}
	prev, perr := readTable(filepath.Join(dir, prevTableFile))
	if perr != nil || prev == nil {
		return nil, false, err
	}
	return prev, true, err
}

// readTable reads and validates one table file; (nil, nil) when missing.
func readTable(p string) (*Table, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var t Table
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := Validate(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &t, nil
}
