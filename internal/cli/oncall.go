package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/incident"
)

func (a *app) newOncallCmd() *cobra.Command {
	var at string
	cmd := &cobra.Command{
		Use:   "oncall",
		Short: "Who every on-call rotation of tug.yaml has on call now, and next",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return badInputf("--at %q: want an RFC 3339 time such as 2026-07-01T09:00:00Z", at)
				}
			}
			list, err := incident.OncallAt(cfg, when)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(incident.OncallResponse{At: when, Rotations: nonNilSlice(list)})
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(a.out, "no on-call rotations in tug.yaml (add `oncall: {primary: {rotation: [ana, ben]}}`)")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROTATION\tNOW\tUNTIL\tNEXT")
			for _, o := range list {
				now := o.Now.Who
				if o.Now.Override {
					now += " (override)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Rotation, now, o.Now.Until.In(o.Now.From.Location()).Format("Mon 2006-01-02 15:04 MST"), o.Next.Who)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&at, "at", "", "say who is on call at this time (RFC 3339) instead of now")
	return cmd
}
