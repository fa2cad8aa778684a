package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/kit"
)

func (a *app) newAuditCmd() *cobra.Command {
	var p audit.Params
	cmd := &cobra.Command{
		Use:   "audit [--since 1h] [--actor NAME] [--limit N]",
		Short: "Show the audit log: who did what, to what, from where, with what outcome, when (oldest first)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if p.Since != "" {
				if _, err := kit.ParseSince(p.Since, time.Now()); err != nil {
					return badInputf("--since: %v", err)
				}
			}
			if p.Limit < 0 {
				return badInputf("--limit must not be negative, got %d", p.Limit)
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			recs, err := c.Audit(cmd.Context(), p)
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				if recs == nil {
					recs = []audit.Record{}
				}
				return json.NewEncoder(a.out).Encode(recs)
			}
			if len(recs) == 0 {
				_, err := fmt.Fprintln(a.out, "no audit records match")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tACTOR\tACTION\tTARGET\tSOURCE\tOUTCOME\tDETAIL")
			for _, r := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.Time.Local().Format("2006-01-02 15:04:05"), r.Actor, r.Action,
					dash(r.Target), dash(r.Source), r.Outcome, dash(firstLine(r.Detail, 100)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&p.Since, "since", "", "only records from this time on: a duration back from now (1h, 7d) or an RFC 3339 time")
	cmd.Flags().StringVar(&p.Actor, "actor", "", "only this actor's records: as shown, a token's name, or a user name")
	cmd.Flags().IntVar(&p.Limit, "limit", audit.DefaultLimit, "the newest this many (0: all)")
	cmd.AddCommand(a.newAuditVerifyCmd())
	return cmd
}

func (a *app) newAuditVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log's hash chain: name every record changed, removed or moved (exit 1 if any)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			rep, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return a.serverErr(err)
			}
			if a.jsonOut {
				if err := json.NewEncoder(a.out).Encode(rep); err != nil {
					return err
				}
			} else {
				for _, p := range rep.Problems {
					fmt.Fprintln(a.out, p.Message)
				}
				if rep.OK() {
					end := "empty"
					if rep.Head != nil {
						end = fmt.Sprintf("its chain ends at record %d, hash %s", rep.Head.Seq, rep.Head.Hash)
					}
					fmt.Fprintf(a.out, "the audit log is intact: %d records; %s\n", rep.Records, end)
				}
			}
			if !rep.OK() {
				return silentError{fmt.Errorf("%w: the audit log has %d problems", errFailed, len(rep.Problems))}
			}
			return nil
		},
	}
}
