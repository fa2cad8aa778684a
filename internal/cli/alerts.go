package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/alert"
)

func (a *app) newAlertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "List firing and pending alerts, most severe first (P0..P3)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			alerts, err := c.Alerts(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(nonNilSlice(alerts))
			}
			return a.printAlerts(alerts)
		},
	}
	cmd.AddCommand(a.newAlertsAckCmd(), a.newAlertsHistoryCmd())
	return cmd
}

func (a *app) newAlertsAckCmd() *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge a firing alert: its repeats stop until it resolves or fires again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			ack, err := c.Ack(cmd.Context(), args[0], alert.AckRequest{By: a.who(), Comment: comment})
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(ack)
			}
			_, err = fmt.Fprintf(a.out, "acknowledged %s (%s): no repeats until it resolves or fires again\n",
				shortID(ack.Fingerprint), ack.AlertName)
			return err
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, for the record")
	return cmd
}

func (a *app) newAlertsHistoryCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the notifications sent, newest first, with their outcome",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return badInputf("--limit must not be negative")
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			notes, err := c.AlertHistory(cmd.Context(), limit)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(nonNilSlice(notes))
			}
			if len(notes) == 0 {
				_, err := fmt.Fprintln(a.out, "no notifications sent yet")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tCHANNEL\tSTATUS\tOUTCOME\tTRIES\tALERTS\tERROR")
			for _, n := range notes {
				var names []string
				for _, al := range n.Alerts {
					names = append(names, al.Severity+" "+al.Name)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", n.At.Local().Format("2006-01-02 15:04:05"), n.Channel,
					n.Status, n.Outcome, n.Attempts, firstLine(strings.Join(names, ", "), 60), dash(firstLine(n.Error, 60)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many (0: all)")
	return cmd
}

func (a *app) printAlerts(as []*alert.Alert) error {
	if len(as) == 0 {
		_, err := fmt.Fprintln(a.out, "no alerts firing or pending")
		return err
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEV\tSTATE\tALERT\tSERVICE\tSINCE\tSUMMARY\tNOTE")
	for _, al := range as {
		since := al.ActiveAt
		if al.State == alert.StateFiring && !al.StartsAt.IsZero() {
			since = al.StartsAt
		}
		var note []string
		if len(al.SilencedBy) > 0 {
			note = append(note, "silenced by "+shortID(al.SilencedBy[0]))
		}
		if al.InhibitedBy != "" {
			note = append(note, "inhibited by "+shortID(al.InhibitedBy))
		}
		if al.AckedBy != "" {
			note = append(note, "acked by "+al.AckedBy)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", shortID(al.ID), al.Severity, al.State, al.Name,
			dash(al.Labels["service"]), since.Local().Format("2006-01-02 15:04:05"),
			dash(a.mask(firstLine(al.Annotations["summary"], 60))), dash(strings.Join(note, "; ")))
	}
	return tw.Flush()
}

// shortID shortens fingerprints and silence IDs for tables; any unique
// prefix is accepted back.
func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// timeOrDash formats t for tables, "-" when zero.
func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
