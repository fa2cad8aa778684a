package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/server"
)

// serverStopWait bounds how long tug down waits for a server to stop: it
// finishes or rolls back deploys first, which its shutdown bounds to 30s.
const serverStopWait = time.Minute

// downResult is `tug down --json`'s answer.
type downResult struct {
	// Server is the PID of the server stopped, 0 when none ran.
	Server      int      `json:"server,omitempty"`
	Environment string   `json:"environment,omitempty"`
	Stopped     []string `json:"stopped"`
	Proxy       bool     `json:"proxy"`
}

func (a *app) newDownCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop this project's services, the proxy and the server",
		Long: "tug down stops what runs for this state directory: the server (if one runs),\n" +
			"every service instance and the proxy. With --env it stops only that\n" +
			"environment's services, through the running server if there is one, and\n" +
			"leaves the rest serving. Stopped services stay down when a server starts\n" +
			"again, until they are deployed; their release history stays.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.down(cmd.Context(), env)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "stop only this environment's services")
	return cmd
}

func (a *app) down(ctx context.Context, env string) error {
	if _, err := a.configPath(); err != nil && !a.explicitStateDir() {
		return err
	}
	if env != "" {
		if cfg, err := a.loadConfig(); err == nil && cfg.Environments[env] == nil && len(cfg.EnvironmentOrder) > 0 {
			return badInputf("unknown environment %q%s; environments: %s", env, kit.DidYouMean(env, cfg.EnvironmentOrder), strings.Join(cfg.EnvironmentOrder, ", "))
		}
	}
	res := downResult{Environment: env}
	dir := a.stateDir()
	if env != "" {
		// A running server stops them itself, so its state stays true.
		c, err := a.apiClient()
		if err != nil {
			return err
		}
		resp, err := c.Down(ctx, env)
		switch {
		case err == nil:
			res.Stopped = resp.Stopped
			return a.printDown(res)
		case !errors.Is(err, api.ErrUnreachable):
			return a.serverErr(err)
		}
	} else {
		pid, err := server.Stop(ctx, dir, serverStopWait)
		if err != nil {
			return err
		}
		res.Server = pid
	}
	out, err := server.Down(ctx, server.DownOptions{StateDir: dir, Environment: env, LookupEnv: a.lookupEnv, Logger: a.logger})
	res.Stopped, res.Proxy = out.Stopped, out.Proxy
	if err != nil {
		if errors.Is(err, server.ErrRunning) {
			return fmt.Errorf("%w; run tug down again", err)
		}
		return err
	}
	return a.printDown(res)
}

func (a *app) printDown(res downResult) error {
	if res.Stopped == nil {
		res.Stopped = []string{}
	}
	slices.Sort(res.Stopped)
	if a.jsonOut {
		return writeJSONTo(a, res)
	}
	if res.Server != 0 {
		fmt.Fprintf(a.out, "stopped the tug server (pid %d)\n", res.Server)
	}
	where := ""
	if res.Environment != "" {
		where = " in " + res.Environment
	}
	switch len(res.Stopped) {
	case 0:
		fmt.Fprintf(a.out, "no service instances ran%s\n", where)
	default:
		fmt.Fprintf(a.out, "stopped %s%s: %s\n", plural(len(res.Stopped), "instance"), where, strings.Join(res.Stopped, ", "))
	}
	if res.Proxy {
		fmt.Fprintln(a.out, "stopped the proxy")
	}
	return nil
}
