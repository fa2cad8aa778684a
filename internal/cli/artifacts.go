package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/kit"
)

// newArtifactsCmd is `tug artifacts RUN [JOB]`: what a run's jobs
// produced, and a way to get the files.
func newArtifactsCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "artifacts RUN [JOB]",
		Short: "List (or, with --out, write out) the artifacts of a run (RUN may be \"last\")",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// The run as `tug runs logs` finds it: a number or "last"; a
			// run that does not exist is not one without artifacts.
			st, rec, jobs, err := a.openRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			st.Close()
			run, job := strconv.FormatInt(rec.ID, 10), ""
			if len(args) == 2 {
				names := make([]string, len(jobs))
				var matched []string
				for i, j := range jobs {
					names[i] = j.Name
					if jobMatches(j.Name, args[1]) {
						matched = append(matched, j.Name)
					}
				}
				switch len(matched) {
				case 0:
					return badInputf("run %s has no job %q%s; jobs: %s", run, args[1], kit.DidYouMean(args[1], names), strings.Join(names, ", "))
				case 1:
					job = matched[0]
				default:
					return badInputf("job %s of run %s has several instances (%s): name one", args[1], run, strings.Join(matched, ", "))
				}
			}
			what := "run " + run
			if job != "" {
				what = "job " + job + " of run " + run
			}
			c, ok, err := openCache(a)
			if err != nil {
				return err
			}
			if !ok {
				return badInputf("%s kept no artifacts", what)
			}
			if out != "" {
				paths, err := c.ExportArtifacts(cmd.Context(), run, job, out)
				if errors.Is(err, cache.ErrNotFound) {
					return badInputf("%s kept no artifacts", what)
				}
				if err != nil {
					return err
				}
				if a.jsonOut {
					if paths == nil {
						paths = []string{}
					}
					return writeJSONTo(a, map[string][]string{"written": paths})
				}
				for _, p := range paths {
					fmt.Fprintln(a.out, p)
				}
				return nil
			}
			list, err := c.Artifacts(cmd.Context(), run, job)
			if errors.Is(err, cache.ErrNotFound) {
				return badInputf("%s kept no artifacts", what)
			}
			if err != nil {
				return err
			}
			if a.jsonOut {
				return writeJSONTo(a, list)
			}
			tw := tabwriter.NewWriter(a.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "JOB\tPATH\tMODE\tSIZE")
			for _, art := range list {
				if art.Link != "" {
					fmt.Fprintf(tw, "%s\t%s -> %s\t%s\t-\n", art.Job, art.Path, art.Link, art.Mode.String())
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", art.Job, art.Path, art.Mode.String(), cacheBytes(art.Size))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "write the files under this directory at their workspace paths")
	return cmd
}
