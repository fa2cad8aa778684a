package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
)

func (a *app) newRollbackCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "rollback SERVICE",
		Short: "Go back to the previous good release of a service",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			start := time.Now()
			p := a.newProgressPrinter(a.out, "")
			f := newFollower(cmd.Context(), p, false)
			defer f.stop()
			rel, err := c.Rollback(f.ctx, api.RollbackRequest{Service: args[0], Environment: env, Who: a.who()}, f.event)
			if err != nil && f.left() {
				return f.report("rollback", args[0])
			}
			return a.finishRelease(p, "rollback", args[0], rel, err, start)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "environment (default: the first declared one)")
	return cmd
}
