package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/cache"
)

// newArtifactsCmd is `tug artifacts RUN [JOB]`: what a run's jobs
// produced, and a way to get the files.
func newArtifactsCmd(a *app) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "artifacts RUN [JOB]",
		Short: "List (or, with --out, write out) the artifacts of a run",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, job := args[0], ""
			if len(args) == 2 {
				job = args[1]
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
				return badInputf("no artifacts for %s: no tug state in %s", what, stateDirOf(a))
			}
			if out != "" {
				paths, err := c.ExportArtifacts(cmd.Context(), run, job, out)
				if errors.Is(err, cache.ErrNotFound) {
					return badInputf("no artifacts for %s", what)
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
				return badInputf("no artifacts for %s", what)
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
