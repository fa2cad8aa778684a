package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/logs"
)

func newLogsCmd(a *app) *cobra.Command {
	var (
		env, since, grep string
		follow           bool
		limit            int
	)
	cmd := &cobra.Command{
		Use:   "logs SERVICE",
		Short: "Show a service's logs (stdout, stderr and proxy access log); \"tug\" for tug's own, \"proxy\" for all access lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := logs.Params{Service: args[0], Env: env, Since: since, Grep: grep, Limit: limit, Follow: follow}
			if since != "" {
				if _, err := logs.ParseSince(since, time.Now()); err != nil {
					return badInputf("--since: %v", err)
				}
			}
			if grep != "" {
				if _, err := regexp.Compile(grep); err != nil {
					return badInputf("--grep: %v", err)
				}
			}
			if limit < 0 {
				return badInputf("--limit must not be negative")
			}
			c, err := a.serverClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			enc := json.NewEncoder(a.out)
			err = c.Logs(ctx, p, func(l logs.Line) error {
				if a.jsonOut {
					return enc.Encode(l)
				}
				return a.printLogLine(l)
			})
			if follow && ctx.Err() != nil {
				return nil // interrupted: the normal end of --follow
			}
			return a.serverErr(err)
		},
	}
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "only this environment")
	f.StringVar(&since, "since", "", "only lines newer than this: a duration back from now (10m, 2h, 7d) or an RFC 3339 time")
	f.StringVar(&grep, "grep", "", "only lines matching this Go regular expression")
	f.BoolVarP(&follow, "follow", "F", false, "keep printing new lines until interrupted")
	f.IntVar(&limit, "limit", 0, "show at most this many of the newest lines (default 1000)")
	return cmd
}

// printLogLine prints "TIME SOURCE TEXT": SOURCE is the instance, or the
// stream when there is none (tug, access lines of unrouted requests).
func (a *app) printLogLine(l logs.Line) error {
	src := l.Instance
	if src == "" {
		src = l.Stream
	}
	if l.Stream == logs.StreamAccess && l.Instance != "" {
		src += " access"
	}
	_, err := fmt.Fprintf(a.out, "%s %s %s\n", l.Time.Local().Format("2006-01-02T15:04:05.000"), src, a.mask(l.Text))
	return err
}
