package cli

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/api"
)

// tokenEnv holds the API token the CLI sends with --server URL.
const tokenEnv = "TUG_TOKEN"

// apiClient returns a client for the running server: --server when given
// (with $TUG_TOKEN as its bearer token), else the unix socket in the
// state directory, which needs no token. Reaching it is checked on first
// use; failures wrap api.ErrUnreachable (exit code 3).
func (a *app) apiClient() (*api.Client, error) {
	if a.serverURL != "" {
		c := api.NewClient(a.serverURL)
		if tok, _ := a.lookupEnv(tokenEnv); tok != "" {
			a.warnCleartext()
			c = c.WithToken(tok)
		}
		return c, nil
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

// warnCleartext warns when the token would cross a network in clear: a
// plain http:// URL whose host is not loopback.
func (a *app) warnCleartext() {
	u, err := url.Parse(a.serverURL)
	if err != nil || u.Scheme != "http" {
		return
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); (err == nil && ip.IsLoopback()) || host == "localhost" {
		return
	}
	a.logger.Warn(fmt.Sprintf("sending %s to %s over plain http: anyone on the path can read it; use https://", tokenEnv, a.serverURL))
}
