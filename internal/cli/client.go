package cli

import (
	"fmt"
	"os"
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
	sock := filepath.Join(dir, api.SocketName)
	if _, err := a.configPath(); err != nil && !a.explicitStateDir() {
		// Outside any project, "cannot reach the server" would be untrue:
		// there is no project whose server to reach.
		if _, serr := os.Stat(sock); serr != nil {
			return nil, badInputf("%v: this command talks to the server of a project (or pass --server URL or --state-dir)", err)
		}
	}
	return api.NewClient(sock), nil
}
