package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/deploy"
)

func (a *app) newReleasesCmd() *cobra.Command {
	var env string
	cmd := &cobra.Command{
		Use:   "releases SERVICE",
		Short: "List the releases of a service, newest first (every environment unless --env)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			rels, err := c.Releases(cmd.Context(), args[0], env)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				if rels == nil {
					rels = []deploy.Release{}
				}
				return json.NewEncoder(a.out).Encode(rels)
			}
			if len(rels) == 0 {
				_, err := fmt.Fprintf(a.out, "no releases of %s yet: deploy it with `tug deploy %s`\n", args[0], args[0])
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tENV\tREVISION\tSTATUS\tSTRATEGY\tWHO\tWHEN\tREASON")
			for _, r := range rels {
				rev := r.Revision
				if r.Digest != "" {
					rev = r.Digest
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Environment, dash(shortRev(rev)), r.Status,
					dash(r.Strategy), dash(r.Who), r.CreatedAt.Local().Format("2006-01-02 15:04:05"), dash(a.mask(firstLine(r.Reason, 72))))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "only this environment")
	return cmd
}

// shortRev shortens a revision or digest for tables.
func shortRev(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// firstLine is s's first line, cut to n runes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
