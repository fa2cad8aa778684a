package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
)

func (a *app) newApplyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Make the running server reload tug.yaml (a file with errors is refused and changes nothing)",
		Long: "tug apply makes the running server read tug.yaml again. A file the server\n" +
			"would refuse (config errors, alert rules or rule files that do not load) is\n" +
			"refused with positions and changes nothing (exit 2); a valid file that did not\n" +
			"take effect in full (the proxy refused the new routes) is exit 1. Keys that\n" +
			"only take effect after a restart (the proxy's listeners) are named, with why,\n" +
			"and make the exit code 1: the rest is applied.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			resp, err := c.Apply(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				if err := json.NewEncoder(a.out).Encode(resp); err != nil {
					return err
				}
			} else {
				state := "unchanged"
				if resp.Changed {
					state = "applied"
				}
				hash := resp.Hash
				if len(hash) > 12 {
					hash = hash[:12]
				}
				if _, err := fmt.Fprintf(a.out, "%s %s (sha256 %s)\n", a.displayPath(resp.File), state, hash); err != nil {
					return err
				}
				a.printWarnings(resp.Warnings)
			}
			return a.restartNeeded(resp)
		},
	}
}

// printWarnings prints the server's positioned warnings to stderr, as
// tug validate prints its own.
func (a *app) printWarnings(ws []endpoint.Detail) {
	for _, w := range ws {
		fmt.Fprintln(a.errOut, warningText(&config.Error{File: a.displayPath(w.File),
			Pos: config.Pos{Line: w.Line, Col: w.Col}, Path: w.Path, Msg: w.Message}))
	}
}

// restartNeeded is apply's error when changed keys wait for a restart.
func (a *app) restartNeeded(resp *api.ConfigResponse) error {
	if len(resp.Restart) == 0 {
		return nil
	}
	keys := make([]string, len(resp.Restart))
	var b strings.Builder
	for i, r := range resp.Restart {
		keys[i] = r.Key
		fmt.Fprintf(&b, "\n  %s: %s", r.Key, r.Reason)
	}
	return fmt.Errorf("applied, except what needs a restart (%s):%s", strings.Join(keys, ", "), b.String())
}
