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
// the last routes even while the server is down.
const tableFile = "table.json"

// saveTable writes t atomically: temp file, fsync, rename, fsync dir. A
// crash at any point leaves either the old or the new table.
func saveTable(dir string, t *Table) error {
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	return kit.WriteFile(filepath.Join(dir, tableFile), append(b, '\n'), 0o600)
}

// loadTable reads the persisted table; (nil, nil) when there is none.
func loadTable(dir string) (*Table, error) {
	p := filepath.Join(dir, tableFile)
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
