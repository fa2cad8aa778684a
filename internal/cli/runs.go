package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/store"
)

func (a *app) newRunsCmd() *cobra.Command {
	var opts store.ListOptions
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List recorded pipeline runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Limit < 0 {
				return badInputf("--limit must not be negative")
			}
			return a.listRuns(cmd.Context(), opts)
		},
	}
	cmd.Flags().IntVar(&opts.Limit, "limit", 20, "show at most this many runs (0: all)")
	cmd.Flags().StringVar(&opts.Pipeline, "pipeline", "", "show only runs of this pipeline")
	cmd.AddCommand(a.newRunsLogsCmd(), a.newRunsCancelCmd())
	return cmd
}

// openHistory opens the store if runs were ever recorded here; ok is
// false (and nothing is created) when there is no history yet.
func (a *app) openHistory(ctx context.Context) (st *store.Store, ok bool, err error) {
	dir := a.stateDir()
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	st, err = store.Open(ctx, dir, store.Options{Logger: a.logger})
	if err != nil {
		return nil, false, err
	}
	return st, true, nil
}

func (a *app) listRuns(ctx context.Context, opts store.ListOptions) error {
	var runs []runner.RunInfo
	if a.serverURL != "" {
		c, err := a.apiClient()
		if err != nil {
			return err
		}
		if runs, err = c.Runs(ctx, runner.ListParams{Limit: opts.Limit, Pipeline: opts.Pipeline}); err != nil {
			return a.serverErr(err)
		}
	} else {
		st, ok, err := a.openHistory(ctx)
		if err != nil {
			return err
		}
		if ok {
			defer st.Close()
			if runs, err = runner.List(ctx, st, opts); err != nil {
				return err
			}
		}
	}
	if a.jsonOut {
		if runs == nil {
			runs = []runner.RunInfo{}
		}
		return json.NewEncoder(a.out).Encode(runs)
	}
	if len(runs) == 0 {
		_, err := fmt.Fprintln(a.out, "no runs yet: start one with `tug run`")
		return err
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tPIPELINE\tSTATUS\tEVENT\tBRANCH\tCOMMIT\tSTARTED\tDURATION")
	for _, r := range runs {
		dur, started := "-", "-"
		if r.FinishedAt != nil && r.StartedAt != nil {
			dur = fmtDuration(r.FinishedAt.Sub(*r.StartedAt))
		}
		if r.StartedAt != nil {
			started = r.StartedAt.Local().Format("2006-01-02 15:04:05")
		}
		status := r.Status
		for _, j := range r.Jobs {
			if j.Status == store.StatusWaiting {
				status += " (" + displayName(j.Name) + ")"
			}
		}
		branch := r.Branch
		if r.Tag != "" {
			branch = "tag " + r.Tag
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, status, dash(r.Event), dash(branch),
			dash(runner.ShortID(r.Commit)), started, dur)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) newRunsLogsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs RUN [JOB]",
		Short: "Print the stored log of a run (RUN may be \"last\"), or of one of its jobs; --follow until it ends",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			job := ""
			if len(args) == 2 {
				job = args[1]
			}
			if follow {
				return a.followLogs(cmd.Context(), args[0], job)
			}
			return a.runLogs(cmd.Context(), args[0], job)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "F", false, "print lines as the run stores them until it ends (exit code: the run's)")
	return cmd
}

// logJSON is one line of `tug runs logs --json`.
type logJSON struct {
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Line    string    `json:"line"`
}

// openRun opens the history and finds the run the user named: a run
// number or "last". The caller closes the store.
func (a *app) openRun(ctx context.Context, ref string) (*store.Store, *store.Run, []store.Job, error) {
	var id int64
	if ref != "last" {
		n, err := strconv.ParseInt(ref, 10, 64)
		if err != nil || n <= 0 {
			return nil, nil, nil, badInputf("run %q: want a run number or \"last\"", ref)
		}
		id = n
	}
	st, ok, err := a.openHistory(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if !ok {
		return nil, nil, nil, badInputf("no runs recorded in %s yet", a.displayPath(a.stateDir()))
	}
	if id == 0 {
		last, err := st.LatestRun(ctx)
		if err != nil {
			st.Close()
			if errors.Is(err, store.ErrNotFound) {
				return nil, nil, nil, badInputf("no runs recorded yet")
			}
			return nil, nil, nil, err
		}
		id = last.ID
	}
	run, jobs, err := st.GetRun(ctx, id)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil, nil, badInputf("no run %d", id)
		}
		return nil, nil, nil, err
	}
	return st, run, jobs, nil
}

func (a *app) runLogs(ctx context.Context, ref, job string) error {
	st, run, jobs, err := a.openRun(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	id := run.ID
	// A job is named by its ID, its base name (every instance of a
	// matrix job) or as the output shows it.
	var want map[string]bool
	if job != "" {
		names := make([]string, len(jobs))
		want = map[string]bool{}
		for i, j := range jobs {
			names[i] = j.Name
			if jobMatches(j.Name, job) {
				want[j.Name] = true
			}
		}
		if len(want) == 0 {
			return badInputf("run %d has no job %q%s; jobs: %s", id, job, kit.DidYouMean(job, names), strings.Join(names, ", "))
		}
		job = ""
		if len(want) == 1 {
			for name := range want {
				job = name // one instance: its lines without prefix
			}
			want = nil
		}
	}
	lines, err := st.Logs(ctx, id, job)
	if err != nil {
		return err
	}
	if want != nil {
		lines = slices.DeleteFunc(lines, func(l store.LogLine) bool { return !want[l.Job] })
	}
	if a.jsonOut {
		enc := json.NewEncoder(a.out)
		for _, l := range lines {
			if err := enc.Encode(logJSON{Job: l.Job, Attempt: l.Attempt, Seq: l.Seq, Time: l.Time, Line: l.Line}); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	for _, l := range lines {
		if job == "" {
			b.WriteString("[" + displayName(l.Job) + "] ")
		}
		b.WriteString(l.Line)
		b.WriteString("\n")
	}
	_, err = fmt.Fprint(a.out, b.String())
	return err
}
