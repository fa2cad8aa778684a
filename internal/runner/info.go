package runner

import (
	"encoding/json"
	"time"

	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/store"
)

// RunInfo is a run as `tug runs --json` and the API show it.
type RunInfo struct {
	ID       int64  `json:"id"`
	Pipeline string `json:"pipeline"`
	// Status is queued, running, waiting (a job waits for approval),
	// success, failed, cancelled or interrupted.
	Status string `json:"status"`
	// Event is how the run was started: push, schedule, webhook, manual
	// (`tug run --remote`, the API) or cli (a local `tug run`).
	Event string `json:"event"`
	// On is the pipeline event the run is for, as on: and if: name it:
	// push, tag, manual or schedule.
	On         string     `json:"on,omitempty"`
	Commit     string     `json:"commit"`
	Branch     string     `json:"branch"`
	Tag        string     `json:"tag,omitempty"`
	Repository string     `json:"repository,omitempty"`
	Trigger    string     `json:"trigger,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	QueuedAt   *time.Time `json:"queued_at,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	DurationMS float64    `json:"duration_ms,omitempty"`
	// Jobs are the run's jobs (when asked for one run, or waiting ones).
	Jobs []JobInfo `json:"jobs,omitempty"`
}

// JobInfo is one job of a run.
type JobInfo struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// Report is the job's test report summary and coverage, when it
	// produced one; Cache its cache decision, when it has inputs.
	Report *pipeline.ReportSummary `json:"report,omitempty"`
	Cache  *pipeline.CacheInfo     `json:"cache,omitempty"`
}

// Info is r as shown, with jobs (nil: none listed). A running run with a
// job waiting for approval shows as waiting.
func Info(r store.Run, jobs []store.Job) RunInfo {
	out := RunInfo{ID: r.ID, Pipeline: r.Pipeline, Status: r.Status, Event: r.Origin, On: r.Event,
		Commit: r.Commit, Branch: r.Branch, Tag: r.Tag, Repository: r.Repository, Trigger: r.Trigger, Reason: r.Reason}
	if out.Event == "" {
		out.Event = OriginCLI // recorded before runs said where they came from
	}
	at := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		return &t
	}
	out.QueuedAt, out.StartedAt, out.FinishedAt = at(r.QueuedAt), at(r.StartedAt), at(r.FinishedAt)
	if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
		out.DurationMS = float64(r.FinishedAt.Sub(r.StartedAt)) / float64(time.Millisecond)
	}
	for _, j := range jobs {
		ji := JobInfo{Name: j.Name, Status: j.Status, Reason: j.Reason}
		if len(j.Detail) > 0 {
			var d detail
			if json.Unmarshal(j.Detail, &d) == nil {
				ji.Report, ji.Cache = d.Report, d.Cache
			}
		}
		out.Jobs = append(out.Jobs, ji)
		if j.Status == store.StatusWaiting && out.Status == store.StatusRunning {
			out.Status = store.StatusWaiting
		}
	}
	return out
}
