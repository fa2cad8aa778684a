package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newSilenceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Mute alerts by label matchers for a while",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(a.newSilenceAddCmd(), a.newSilenceLsCmd(), a.newSilenceExpireCmd())
	return cmd
}

func (a *app) newSilenceAddCmd() *cobra.Command {
	var forDur, comment string
	cmd := &cobra.Command{
		Use:   "add MATCHERS",
		Short: `Silence the alerts MATCHERS select, e.g. alertname=HighErrorRate,service=~"web.*"`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Checked here too, so a typo is exit 2 without a server round trip.
			if _, err := alert.ParseMatchers(args[0]); err != nil {
				return badInput(err)
			}
			if d, err := kit.ParseDuration(forDur); err != nil {
				return badInputf("--for: %v", err)
			} else if d <= 0 {
				return badInputf("--for must be positive, got %s", forDur)
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			s, err := c.AddSilence(cmd.Context(), alert.SilenceRequest{Matchers: args[0], Duration: forDur, Comment: comment, By: a.who()})
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(s)
			}
			_, err = fmt.Fprintf(a.out, "silence %s: %s until %s\n", s.ID, s.Matchers, s.EndsAt.Local().Format("2006-01-02 15:04:05"))
			return err
		},
	}
	cmd.Flags().StringVar(&forDur, "for", "2h", "how long it lasts (e.g. 30m, 2h, 1d)")
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the record")
	return cmd
}

func (a *app) newSilenceLsCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List active and pending silences (--all: expired ones too)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			silences, err := c.Silences(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			list := silences[:0:0]
			for _, s := range silences {
				if all || s.Status != alert.SilenceExpired {
					list = append(list, s)
				}
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(list)
			}
			if len(list) == 0 {
				_, err := fmt.Fprintln(a.out, "no silences")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tMATCHERS\tENDS\tBY\tCOMMENT")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Status, s.Matchers, timeOrDash(s.EndsAt),
					dash(s.CreatedBy), dash(firstLine(strings.TrimSpace(s.Comment), 50)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "include expired silences")
	return cmd
}

func (a *app) newSilenceExpireCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "expire ID",
		Short: "End a silence now (ID or a unique prefix)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			s, err := c.ExpireSilence(cmd.Context(), args[0])
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(s)
			}
			_, err = fmt.Fprintf(a.out, "silence %s expired\n", s.ID)
			return err
		},
	}
}
