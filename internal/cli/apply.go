package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newApplyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Make the running server reload tug.yaml (a file with errors is refused and changes nothing)",
		Args:  cobra.NoArgs,
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
				return json.NewEncoder(a.out).Encode(resp)
			}
			state := "unchanged"
			if resp.Changed {
				state = "applied"
			}
			hash := resp.Hash
			if len(hash) > 12 {
				hash = hash[:12]
			}
			_, err = fmt.Fprintf(a.out, "%s %s (sha256 %s)\n", a.displayPath(resp.File), state, hash)
			return err
		},
	}
}
