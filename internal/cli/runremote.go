package cli

import (
	"context"
	"fmt"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/runner"
)

// runRemote starts the run on the server (`tug run --remote`) and
// follows its log until it ends; the exit code is the run's.
func (a *app) runRemote(ctx context.Context, name string, f runFlags) error {
	switch {
	case f.graph || len(f.explain) > 0:
		return badInputf("--remote runs the pipeline on the server: --graph and --explain are answered here, without it")
	case f.event != config.EventManual && f.force:
		// The server refuses on its own what on: does not name.
	}
	c, err := a.apiClient()
	if err != nil {
		return err
	}
	run, err := c.StartRun(ctx, runner.StartRequest{
		Pipeline: name, Jobs: f.jobs, NoCache: f.noCache, Parallel: f.parallel, Event: f.event,
		Branch: f.branch, Force: f.force, Who: a.who(),
	})
	if err != nil {
		return a.serverErr(err)
	}
	if !a.jsonOut {
		fmt.Fprintf(a.errOut, "run %d of %s queued on the server (commit %s)\n", run.ID, run.Pipeline, runner.ShortID(run.Commit))
	}
	final, err := a.followRun(ctx, c, run.ID, "")
	if err != nil {
		return err
	}
	return runExit(run.ID, pipeline.Status(final.Status))
}

// followRun prints a run's log lines as the server stores them until it
// ends, and returns the run as it ended.
func (a *app) followRun(ctx context.Context, c *api.Client, id int64, job string) (*runner.RunInfo, error) {
	var final *runner.RunInfo
	err := c.FollowRun(ctx, id, job, func(l runner.LogEvent) { a.printLogEvent(l, job, &final) })
	if err != nil {
		return nil, a.serverErr(err)
	}
	if final == nil {
		return nil, fmt.Errorf("%w: the server ended the log of run %d before the run", api.ErrUnreachable, id)
	}
	return final, nil
}

// printLogEvent prints one line of a followed run's log (without prefix
// when one job is followed), or keeps the run it ended as in final.
func (a *app) printLogEvent(l runner.LogEvent, job string, final **runner.RunInfo) {
	switch {
	case l.Run != nil:
		*final = l.Run
	case a.jsonOut:
		a.printJSONLine(l)
	case job != "":
		fmt.Fprintln(a.out, a.mask(l.Line))
	default:
		fmt.Fprintln(a.out, a.mask("["+displayName(l.Job)+"] "+l.Line))
	}
}
