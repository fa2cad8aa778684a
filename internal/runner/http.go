package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/trigger"
)

// ListParams select GET /api/runs.
type ListParams struct {
	Limit    int    `query:"limit" doc:"at most this many runs, newest first (default 20; 0 all)"`
	Pipeline string `query:"pipeline" doc:"only runs of this pipeline"`
}

// RunParams name one run.
type RunParams struct {
	ID string `path:"id" doc:"the run's number"`
}

// runID reads a run number.
func runID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: run %q: want a run number", ErrBadRequest, s)
	}
	return id, nil
}

// LogParams select GET /api/runs/{id}/logs.
type LogParams struct {
	ID     string `path:"id" doc:"the run's number"`
	Job    string `query:"job" doc:"only this job (its ID, base name or name as shown)"`
	Follow bool   `query:"follow" doc:"stream lines as the run stores them until it ends"`
}

// LogEvent is one line of a run's log, or (last, Run set) the run as it
// ended.
type LogEvent struct {
	Job     string    `json:"job,omitempty"`
	Attempt int       `json:"attempt,omitempty"`
	Seq     int64     `json:"seq,omitempty"`
	Time    time.Time `json:"time,omitzero"`
	Line    string    `json:"line,omitempty"`
	Run     *RunInfo  `json:"run,omitempty"`
}

// CancelRequest is the body of POST /api/runs/{id}/cancel.
type CancelRequest struct {
	Who string `json:"who,omitempty"`
}

// RefUpdate is one ref a git hook saw move.
type RefUpdate struct {
	Ref string `json:"ref"`
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
}

// PushRequest is the body of POST /api/push: what a `tug hook install`
// hook reports after a push.
type PushRequest struct {
	// Repository is the git directory pushed to.
	Repository string      `json:"repository"`
	Refs       []RefUpdate `json:"refs"`
	Who        string      `json:"who,omitempty"`
}

// PushAnswer lists the runs a push queued.
type PushAnswer struct {
	Runs []RunInfo `json:"runs"`
}

// The run operations of the API.
var (
	OpStartRun = endpoint.Declare[endpoint.None, StartRequest, RunInfo](http.MethodPost, "/api/runs", endpoint.Deployer,
		"Queue a run of a pipeline at the head of a branch of the server's repository (`tug run --remote`).").OptionalBody()
	OpRuns = endpoint.Declare[ListParams, endpoint.None, []RunInfo](http.MethodGet, "/api/runs", endpoint.Viewer,
		"Runs, newest first: local `tug run`s and the server's (queued, running, waiting for approval, ended).")
	OpRun = endpoint.Declare[RunParams, endpoint.None, RunInfo](http.MethodGet, "/api/runs/{id}", endpoint.Viewer,
		"One run and its jobs.")
	OpRunLogs = endpoint.Declare[LogParams, endpoint.None, LogEvent](http.MethodGet, "/api/runs/{id}/logs", endpoint.Viewer,
		"A run's log lines; with follow, as they are stored until the run ends. The last line carries the run.")
	OpCancelRun = endpoint.Declare[RunParams, CancelRequest, RunInfo](http.MethodPost, "/api/runs/{id}/cancel", endpoint.Deployer,
		"Cancel a queued or running server run.").OptionalBody()
	OpPush = endpoint.Declare[endpoint.None, PushRequest, PushAnswer](http.MethodPost, "/api/push", endpoint.Deployer,
		"Report refs a git push moved (the hook `tug hook install` writes calls it); runs of the pipelines they start are queued.")
)

// ErrNoQueue answers the run operations of a server without a queue.
var ErrNoQueue = errors.New("this server runs no pipelines")

// Ops binds the run operations to q (nil answers ErrNoQueue).
func Ops(q *Queue) []endpoint.Op {
	return []endpoint.Op{
		OpStartRun.JSON(func(ctx context.Context, _ endpoint.None, req StartRequest) (RunInfo, error) {
			if q == nil {
				return RunInfo{}, ErrNoQueue
			}
			info, err := q.Start(ctx, req, OriginManual)
			if err != nil {
				return RunInfo{}, err
			}
			return *info, nil
		}),
		OpRuns.JSON(func(ctx context.Context, p ListParams, _ endpoint.None) ([]RunInfo, error) {
			if q == nil {
				return nil, ErrNoQueue
			}
			if p.Limit < 0 {
				return nil, fmt.Errorf("%w: limit must not be negative", ErrBadRequest)
			}
			return List(ctx, q.o.Store, store.ListOptions{Limit: p.Limit, Pipeline: p.Pipeline})
		}),
		OpRun.JSON(func(ctx context.Context, p RunParams, _ endpoint.None) (RunInfo, error) {
			if q == nil {
				return RunInfo{}, ErrNoQueue
			}
			id, err := runID(p.ID)
			if err != nil {
				return RunInfo{}, err
			}
			info, err := q.Get(ctx, id)
			if err != nil {
				return RunInfo{}, err
			}
			return *info, nil
		}),
		OpRunLogs.Stream(func(ctx context.Context, p LogParams, _ endpoint.None, send func(LogEvent) error) error {
			if q == nil {
				return ErrNoQueue
			}
			id, err := runID(p.ID)
			if err != nil {
				return err
			}
			return Follow(ctx, q.o.Store, id, p.Job, p.Follow, q.changes, send)
		}),
		OpCancelRun.JSON(func(ctx context.Context, p RunParams, req CancelRequest) (RunInfo, error) {
			if q == nil {
				return RunInfo{}, ErrNoQueue
			}
			who := req.Who
			if who == "" {
				who = "api"
			}
			id, err := runID(p.ID)
			if err != nil {
				return RunInfo{}, err
			}
			info, err := q.Cancel(ctx, id, who)
			if err != nil {
				return RunInfo{}, err
			}
			return *info, nil
		}),
		OpPush.JSON(func(ctx context.Context, _ endpoint.None, req PushRequest) (PushAnswer, error) {
			if q == nil {
				return PushAnswer{}, ErrNoQueue
			}
			runs, err := q.HookPush(ctx, req)
			return PushAnswer{Runs: runs}, err
		}),
	}
}

// HookPush queues the runs of a push a git hook reported. The repository
// must be the server's own or one its remotes point at.
func (q *Queue) HookPush(ctx context.Context, req PushRequest) ([]RunInfo, error) {
	if req.Repository == "" || !filepath.IsAbs(req.Repository) {
		return nil, fmt.Errorf("%w: repository must be an absolute path, got %q", ErrBadRequest, req.Repository)
	}
	gitDir, err := trigger.GitDir(ctx, req.Repository)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownRepository, req.Repository)
	}
	if _, ok := q.Match(ctx, "", gitDir, req.Repository); gitDir != q.repo && !ok {
		return nil, fmt.Errorf("%w: %s is neither the server's repository nor one of its remotes", ErrUnknownRepository, req.Repository)
	}
	var pushes []trigger.Push
	for _, r := range req.Refs {
		pushes = append(pushes, trigger.Push{Ref: r.Ref, Old: r.Old, New: r.New})
	}
	who := req.Who
	if who == "" {
		who = "git hook"
	}
	return q.OnPush(ctx, PushSource{Repo: gitDir, Origin: OriginPush, Trigger: who}, pushes)
}

// List is the runs of st as shown, newest first; a running run with a job
// waiting for approval shows as waiting, with that job.
func List(ctx context.Context, st *store.Store, opts store.ListOptions) ([]RunInfo, error) {
	runs, err := st.ListRuns(ctx, opts)
	if err != nil {
		return nil, err
	}
	waiting, err := st.WaitingJobs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]RunInfo, 0, len(runs))
	for _, r := range runs {
		out = append(out, Info(r, waiting[r.ID]))
	}
	return out, nil
}

// Follow sends a run's stored log lines (of job, when named), then with
// follow the lines stored later until the run ends, then the run itself.
// changes, when given, returns a channel closed at the next change (the
// queue's); without it, or for a run another process records, the store
// is read again every half second.
func Follow(ctx context.Context, st *store.Store, id int64, job string, follow bool, changes func() <-chan struct{}, send func(LogEvent) error) error {
	r, jobs, err := st.GetRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %d", ErrNoRun, id)
	}
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if job != "" {
		for _, j := range jobs {
			if pipeline.MatchesJob(j.Name, job) {
				want[j.Name] = true
			}
		}
		if len(want) == 0 && !follow {
			return fmt.Errorf("%w: run %d has no job %q", ErrBadRequest, id, job)
		}
	}
	seen := map[string]int64{}
	for {
		var wake <-chan struct{}
		if changes != nil {
			wake = changes()
		}
		lines, err := st.LogsSince(ctx, id, seen)
		if err != nil {
			return err
		}
		for _, l := range lines {
			seen[l.Job] = max(seen[l.Job], l.Seq)
			if job != "" && !pipeline.MatchesJob(l.Job, job) {
				continue
			}
			if err := send(LogEvent{Job: l.Job, Attempt: l.Attempt, Seq: l.Seq, Time: l.Time, Line: l.Line}); err != nil {
				return nil
			}
		}
		r, jobs, err = st.GetRun(ctx, id)
		if err != nil {
			return err
		}
		ended := r.Status != store.StatusQueued && r.Status != store.StatusRunning
		if !follow || ended {
			if ended && follow {
				// Lines stored between the read above and the end.
				if rest, err := st.LogsSince(ctx, id, seen); err == nil {
					for _, l := range rest {
						if job == "" || pipeline.MatchesJob(l.Job, job) {
							_ = send(LogEvent{Job: l.Job, Attempt: l.Attempt, Seq: l.Seq, Time: l.Time, Line: l.Line})
						}
					}
				}
			}
			info := Info(*r, jobs)
			_ = send(LogEvent{Run: &info})
			return nil
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}
