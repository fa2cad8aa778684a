package runtime

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// stateName is a process instance's state file in its directory.
const stateName = "state.json"

// processState is what survives the server: enough to find the process
// again (PID plus start time, against PID reuse) and to restart it. It
// holds the names of the instance's secrets, never their values.
type processState struct {
	Spec        Spec      `json:"spec"` // Secrets always nil here
	SecretNames []string  `json:"secret_names,omitempty"`
	PID         int       `json:"pid"`
	StartTime   uint64    `json:"start_time"` // clock ticks since boot, /proc/<pid>/stat field 22
	Port        int       `json:"port"`
	StartedAt   time.Time `json:"started_at"`
	record                // restarts and crash history
}

// newProcessState strips spec of its secret values, keeping their names.
func newProcessState(spec Spec) processState {
	names := slices.Sorted(maps.Keys(spec.Secrets))
	spec.Secrets = nil
	spec.Env = maps.Clone(spec.Env)
	return processState{Spec: spec, SecretNames: names}
}

// saveState writes st to dir/state.json, whole and durably.
func saveState(dir string, st processState) error {
	st.Spec.Secrets = nil // belt and braces: values never reach disk
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state of %s: %w", st.Spec.ID, err)
	}
	if err := kit.WriteFile(filepath.Join(dir, stateName), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save state of %s: %w", st.Spec.ID, err)
	}
	return nil
}

// loadState reads dir/state.json.
func loadState(dir string) (processState, error) {
	var st processState
	path := filepath.Join(dir, stateName)
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if st.Spec.ID != filepath.Base(dir) {
		return st, fmt.Errorf("%s: holds instance %q, not %q", path, st.Spec.ID, filepath.Base(dir))
	}
	return st, nil
}
