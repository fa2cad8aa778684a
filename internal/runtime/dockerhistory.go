package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/kit"
)

// historyPath is the instance's history file; "" without a state dir.
func (d *Docker) historyPath(id string) string {
	if d.stateDir == "" {
		return ""
	}
	return filepath.Join(d.stateDir, id+".json")
}

// saveHistory writes instance id's counts (without d.mu: it syncs).
// Failing only costs the counts on the next adoption, so it is logged.
func (d *Docker) saveHistory(id string, h record) {
	p := d.historyPath(id)
	if p == "" {
		return
	}
	b, err := json.Marshal(h)
	if err == nil {
		if err = os.MkdirAll(d.stateDir, 0o755); err == nil {
			err = kit.WriteFile(p, b, 0o600)
		}
	}
	if err != nil {
		d.log.Warn("record restart history", "instance", id, "err", err)
	}
}

// loadHistory restores in's counts from its file, if any.
func (d *Docker) loadHistory(in *ctrInst) {
	p := d.historyPath(in.id)
	if p == "" {
		return
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var h record
	if err == nil {
		err = json.Unmarshal(b, &h)
	}
	if err != nil {
		d.log.Warn("restart history unreadable; counting from 0", "instance", in.id, "err", err)
		return
	}
	in.restore(h)
}

// dropHistory removes the file of an instance that is gone.
func (d *Docker) dropHistory(id string) {
	if p := d.historyPath(id); p != "" {
		_ = os.Remove(p)
	}
}
