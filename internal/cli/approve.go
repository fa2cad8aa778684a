package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newApproveCmd() *cobra.Command {
	var reject bool
	cmd := &cobra.Command{
		Use:   "approve RELEASE",
		Short: "Let a release that waits for approval proceed (or --reject it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			decide, verb := c.Approve, "approved"
			if reject {
				decide, verb = c.Reject, "rejected"
			}
			rel, err := decide(cmd.Context(), args[0], a.who())
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(rel)
			}
			if reject {
				_, err = fmt.Fprintf(a.out, "%s %s: %s to %s will not be deployed\n", verb, rel.ID, rel.Service, rel.Environment)
				return err
			}
			_, err = fmt.Fprintf(a.out, "%s %s: %s to %s proceeds (follow it with `tug releases %s --env %s`)\n",
				verb, rel.ID, rel.Service, rel.Environment, rel.Service, rel.Environment)
			return err
		},
	}
	cmd.Flags().BoolVar(&reject, "reject", false, "fail the release instead; nothing of it starts")
	return cmd
}
