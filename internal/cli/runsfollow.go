package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/store"
)

// followLogs prints a run's log as it is stored until the run ends
// (`tug runs logs RUN [JOB] --follow`), whether the server or a local
// `tug run` records it; the exit code is the run's.
func (a *app) followLogs(ctx context.Context, ref, job string) error {
	if a.serverURL != "" {
		id, err := strconv.ParseInt(ref, 10, 64)
		if err != nil || id <= 0 {
			return badInputf("run %q: want a run number", ref)
		}
		c, err := a.apiClient()
		if err != nil {
			return err
		}
		final, err := a.followRun(ctx, c, id, job)
		if err != nil {
			return err
		}
		return runExit(id, pipeline.Status(final.Status))
	}
	st, run, _, err := a.openRun(ctx, ref)
	if err != nil {
		return err
	}
	defer st.Close()
	var final *runner.RunInfo
	err = runner.Follow(ctx, st, run.ID, job, true, nil, func(l runner.LogEvent) error {
		a.printLogEvent(l, job, &final)
		return nil
	})
	if err != nil {
		if errors.Is(err, runner.ErrBadRequest) {
			return badInput(err)
		}
		return err
	}
	if final == nil {
		return ctx.Err()
	}
	return runExit(run.ID, pipeline.Status(final.Status))
}

// printJSONLine prints v as one line of JSON, masked.
func (a *app) printJSONLine(v any) {
	b, err := json.Marshal(v)
	if err == nil {
		fmt.Fprintln(a.out, a.mask(string(b)))
	}
}

func (a *app) newRunsCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a queued or running run: the server's, or a local `tug run` (sent an interrupt)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cancelRun(cmd.Context(), args[0])
		},
	}
}

// cancelRun asks the server to cancel a run; a run a local `tug run`
// records is interrupted as Ctrl-C would.
func (a *app) cancelRun(ctx context.Context, ref string) error {
	st, run, _, err := a.openRun(ctx, ref)
	if err != nil {
		return err
	}
	st.Close()
	if run.Status != store.StatusQueued && run.Status != store.StatusRunning {
		return badInputf("run %d already ended: %s", run.ID, run.Status)
	}
	if run.Origin == runner.OriginCLI && run.Status == store.StatusRunning {
		if !kit.Alive(run.PID) {
			return badInputf("run %d: its `tug run` (process %d) is gone", run.ID, run.PID)
		}
		if err := syscall.Kill(run.PID, syscall.SIGINT); err != nil {
			return fmt.Errorf("interrupt the `tug run` of run %d (process %d): %w", run.ID, run.PID, err)
		}
		return a.printCancelled(&runner.RunInfo{ID: run.ID, Pipeline: run.Pipeline, Status: "cancelling"})
	}
	c, err := a.apiClient()
	if err != nil {
		return err
	}
	info, err := c.CancelRun(ctx, run.ID, a.who())
	if err != nil {
		var e *endpoint.Error
		if errors.As(err, &e) && e.Code == endpoint.CodeBadRequest {
			return badInput(err)
		}
		return a.serverErr(err)
	}
	return a.printCancelled(info)
}

func (a *app) printCancelled(info *runner.RunInfo) error {
	if a.jsonOut {
		return json.NewEncoder(a.out).Encode(info)
	}
	_, err := fmt.Fprintf(a.out, "run %d of %s: %s\n", info.ID, info.Pipeline, info.Status)
	return err
}
