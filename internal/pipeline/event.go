package pipeline

import "time"

// Status is the state of a job or a run.
type Status string

// Job and run states. A run ends as success, failed, cancelled or
// interrupted (tug itself died; set when history is next opened).
const (
	StatusPending     Status = "pending"
	StatusRunning     Status = "running"
	StatusSuccess     Status = "success"
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusCached      Status = "cached"
	StatusCancelled   Status = "cancelled"
	StatusInterrupted Status = "interrupted"
	// StatusWaiting is a job waiting for a person: a deploy that needs
	// approval.
	StatusWaiting Status = "waiting"
)

// EventType names an Event in --json output; values are part of the contract.
type EventType string

// Event types, in the order a run emits them.
const (
	EventRunStarted  EventType = "run_started"
	EventJobStarted  EventType = "job_started"
	EventJobLog      EventType = "log"
	EventJobFinished EventType = "job_finished"
	// EventJobWaiting: a started job waits for a person (Reason says
	// what to do); EventJobResumed: it goes on.
	EventJobWaiting  EventType = "job_waiting"
	EventJobResumed  EventType = "job_resumed"
	EventRunFinished EventType = "run_finished"
)

// Event is one thing that happened in a run. Fields not meaningful for a
// Type are zero. All string fields are already secret-masked.
type Event struct {
	Type     EventType `json:"type"`
	Time     time.Time `json:"time"`
	RunID    string    `json:"run_id"`
	Pipeline string    `json:"pipeline,omitempty"`
	Job      string    `json:"job,omitempty"`
	// Jobs lists every job instance of the run, in plan order (run_started).
	Jobs []string `json:"jobs,omitempty"`
	// Needs maps each job instance of the run to the instances it waits
	// for, [] for none: the run's DAG (run_started).
	Needs   map[string][]string `json:"needs,omitempty"`
	Attempt int                 `json:"attempt,omitempty"`
	Line    string              `json:"line,omitempty"`
	Status  Status              `json:"status,omitempty"`
	// Reason says why a job was skipped or failed to start, or why the
	// cache missed.
	Reason     string  `json:"reason,omitempty"`
	ExitCode   *int    `json:"exit_code,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Cache explains a cacheable job's cache decision (job_finished).
	Cache *CacheInfo `json:"cache,omitempty"`
	// Report summarises test reports the job produced (job_finished).
	Report *ReportSummary `json:"report,omitempty"`
}

// CacheInfo is a job's cache decision and, on a miss, why.
type CacheInfo struct {
	Key  string `json:"key"`
	Hit  bool   `json:"hit"`
	Miss string `json:"miss,omitempty"`
	// Changes lists what differs from the last cached run of the job:
	// "input src/a.go changed", "env GOFLAGS changed", "upstream build changed".
	Changes []string `json:"changes,omitempty"`
	// Evicted lists cache entries dropped to stay under max_size.
	Evicted []string `json:"evicted,omitempty"`
}

// ReportSummary is what a job's JUnit and coverage reports said.
type ReportSummary struct {
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Skipped  int      `json:"skipped"`
	Failures []string `json:"failures,omitempty"`
	// Coverage is a percentage, or nil when no coverage profile was read.
	Coverage *float64 `json:"coverage,omitempty"`
	// Findings counts a scan job's findings by severity (critical, high,
	// medium, low, info); nil for other jobs.
	Findings map[string]int `json:"findings,omitempty"`
}

// Observer receives a run's events in order.
//
// Contract: Observe is called from one goroutine at a time (the engine
// serialises calls), must not block for long, and must not keep ev's
// slices after returning.
type Observer interface {
	Observe(ev Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f(ev).
func (f ObserverFunc) Observe(ev Event) { f(ev) }
