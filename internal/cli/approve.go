package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newApproveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "approve RELEASE",
		Short: "Let a release that waits for approval proceed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			rel, err := c.Approve(cmd.Context(), args[0], a.who())
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(rel)
			}
			_, err = fmt.Fprintf(a.out, "approved %s: %s to %s proceeds (follow it with `tug releases %s --env %s`)\n",
				rel.ID, rel.Service, rel.Environment, rel.Service, rel.Environment)
			return err
		},
	}
}
