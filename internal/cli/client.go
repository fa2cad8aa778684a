package cli

import (
	"fmt"
	"path/filepath"

	"github.com/tugdev/tug/internal/api"
)

// apiClient returns a client for the running server: --server when given,
// else the unix socket in the state directory. Reaching it is checked on
// first use; failures wrap api.ErrUnreachable (exit code 3).
func (a *app) apiClient() (*api.Client, error) {
	if a.serverURL != "" {
		return api.NewClient(a.serverURL), nil
	}
	dir := a.stateDir()
	if dir == "" {
		return nil, fmt.Errorf("%w: no state directory (no tug.yaml found; use --server URL or --state-dir)", api.ErrUnreachable)
	}
	return api.NewClient(filepath.Join(dir, api.SocketName)), nil
}
