// Package config loads tug.yaml: strict, positioned, and complete in its
// error reports. The Go types below are the single description of the file:
// the loader decodes by them and the JSON Schema is generated from them.
package config

import "time"

// Config is a whole tug.yaml after loading, interpolation and validation.
type Config struct {
	Version      int                     `yaml:"version" json:"version"`
	Project      string                  `yaml:"project" json:"project"`
	Cache        CacheConfig             `yaml:"cache" json:"cache"`
	Pipelines    map[string]*Pipeline    `yaml:"pipelines" json:"pipelines"`
	Services     map[string]*Service     `yaml:"services" json:"services"`
	Environments map[string]*Environment `yaml:"environments" json:"environments"`
	Alerts       []*AlertRule            `yaml:"alerts" json:"alerts"`

	// File is the path the config was read from, for error messages.
	File string `yaml:"-" json:"-"`
	// Positions maps a dotted key path ("pipelines.ci.jobs.test.needs[0]")
	// to where it stands in File, so later checks can still point at it.
	Positions map[string]Pos `yaml:"-" json:"-"`
	// PipelineOrder and ServiceOrder keep declaration order, which maps lose.
	PipelineOrder []string `yaml:"-" json:"-"`
	ServiceOrder  []string `yaml:"-" json:"-"`
	// EnvironmentOrder is the declaration order of environments; the first
	// is the default target of deploy commands.
	EnvironmentOrder []string `yaml:"-" json:"-"`
}

// Pos is a 1-based line and column in a YAML file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// CacheConfig bounds the job cache.
type CacheConfig struct {
	// MaxSize is a byte size such as "5GiB"; empty means the default.
	MaxSize ByteSize `yaml:"max_size" json:"max_size"`
}

// ByteSize is a size in bytes written with a unit ("512MiB", "5GiB", "10MB").
type ByteSize int64

// Duration is a Go duration string ("30s", "1m30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Pipeline is a named DAG of jobs.
//
// Stages give jobs without `needs` an order: such a job waits for every job
// of the earlier stages. A job's Stage is kept as written (the loader only
// checks it is one of Stages when Stages is given); the engine derives the
// stage edges. When Stages is absent, every job is in stage "" and jobs
// without needs are independent of each other.
type Pipeline struct {
	On     []Trigger         `yaml:"on" json:"on"`
	Env    map[string]string `yaml:"env" json:"env"`
	Stages []string          `yaml:"stages" json:"stages"`
	Jobs   map[string]*Job   `yaml:"jobs" json:"jobs"`

	// JobOrder keeps declaration order of Jobs.
	JobOrder []string `yaml:"-" json:"-"`
}

// Trigger is an event that starts a pipeline: a plain event name ("push",
// "manual") or a mapping ({schedule: "0 3 * * *"} or {tag: "v*"}).
type Trigger struct {
	Event    string `yaml:"event" json:"event,omitempty"`
	Schedule string `yaml:"schedule" json:"schedule,omitempty"`
	Tag      string `yaml:"tag" json:"tag,omitempty"`
	Branch   string `yaml:"branch" json:"branch,omitempty"`
}

// Job is one unit of work in a pipeline. It has exactly one of Run, Steps
// or Deploy. Run and Steps[].Run are kept raw (no ${VAR} expansion at load
// time): the shell expands them when the job runs. If is an expr-lang
// boolean over branch, tag, event, commit (strings) and env, matrix
// (map[string]string).
type Job struct {
	Stage        string            `yaml:"stage" json:"stage,omitempty"`
	Needs        []string          `yaml:"needs" json:"needs,omitempty"`
	Run          string            `yaml:"run" json:"run,omitempty"`
	Steps        []Step            `yaml:"steps" json:"steps,omitempty"`
	Env          map[string]string `yaml:"env" json:"env,omitempty"`
	Inputs       []string          `yaml:"inputs" json:"inputs,omitempty"`
	Artifacts    []string          `yaml:"artifacts" json:"artifacts,omitempty"`
	Matrix       *Matrix           `yaml:"matrix" json:"matrix,omitempty"`
	Timeout      Duration          `yaml:"timeout" json:"timeout,omitempty"`
	Retry        int               `yaml:"retry" json:"retry,omitempty"`
	Image        string            `yaml:"image" json:"image,omitempty"`
	Pull         bool              `yaml:"pull" json:"pull,omitempty"`
	Services     []JobService      `yaml:"services" json:"services,omitempty"`
	AllowFailure bool              `yaml:"allow_failure" json:"allow_failure,omitempty"`
	If           string            `yaml:"if" json:"if,omitempty"`
	When         string            `yaml:"when" json:"when,omitempty"` // on_success (default) | on_failure | always | manual
	Secrets      []string          `yaml:"secrets" json:"secrets,omitempty"`
	Deploy       *JobDeploy        `yaml:"deploy" json:"deploy,omitempty"`
	Reports      *Reports          `yaml:"reports" json:"reports,omitempty"`
}

// Step is one named script of a job; steps run in order in one job.
type Step struct {
	Name string `yaml:"name" json:"name,omitempty"`
	Run  string `yaml:"run" json:"run"`
}

// Matrix expands a job into the cartesian product of its axes.
// In YAML every key other than include/exclude is an axis.
type Matrix struct {
	// Axes holds each axis's values; AxisOrder its declaration order.
	Axes      map[string][]string `json:"axes"`
	AxisOrder []string            `json:"-"`
	Include   []map[string]string `json:"include,omitempty"`
	Exclude   []map[string]string `json:"exclude,omitempty"`
}

// JobService is a sidecar container reachable by name while a job runs.
type JobService struct {
	Name  string            `yaml:"name" json:"name"`
	Image string            `yaml:"image" json:"image"`
	Env   map[string]string `yaml:"env" json:"env,omitempty"`
}

// JobDeploy makes a job deploy a service instead of running a script.
type JobDeploy struct {
	Service     string `yaml:"service" json:"service"`
	Environment string `yaml:"environment" json:"environment,omitempty"`
}

// Reports names test report files a job produces.
type Reports struct {
	JUnit    []string `yaml:"junit" json:"junit,omitempty"`
	Coverage string   `yaml:"coverage" json:"coverage,omitempty"`
}

// Service is a long-running program tug deploys and watches.
type Service struct {
	Run          string                         `yaml:"run" json:"run,omitempty"`
	Build        string                         `yaml:"build" json:"build,omitempty"`
	Image        string                         `yaml:"image" json:"image,omitempty"`
	Port         int                            `yaml:"port" json:"port,omitempty"`
	Health       *Health                        `yaml:"health" json:"health,omitempty"`
	Metrics      *MetricsEndpoint               `yaml:"metrics" json:"metrics,omitempty"`
	Replicas     int                            `yaml:"replicas" json:"replicas,omitempty"`
	Env          map[string]string              `yaml:"env" json:"env,omitempty"`
	Secrets      []string                       `yaml:"secrets" json:"secrets,omitempty"`
	Routes       []string                       `yaml:"routes" json:"routes,omitempty"`
	Deploy       *DeployPolicy                  `yaml:"deploy" json:"deploy,omitempty"`
	Environments map[string]*ServiceEnvironment `yaml:"environments" json:"environments,omitempty"`
}

// Health is an HTTP health check against each instance.
type Health struct {
	Path     string   `yaml:"path" json:"path"`
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	Timeout  Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// MetricsEndpoint is where an instance exposes Prometheus metrics.
type MetricsEndpoint struct {
	Path string `yaml:"path" json:"path"`
}

// DeployPolicy says how a new release replaces the live one.
type DeployPolicy struct {
	Strategy       string       `yaml:"strategy" json:"strategy,omitempty"` // rolling | blue-green | canary
	Steps          []CanaryStep `yaml:"steps" json:"steps,omitempty"`
	Analysis       *Analysis    `yaml:"analysis" json:"analysis,omitempty"`
	Smoke          *Smoke       `yaml:"smoke" json:"smoke,omitempty"`
	DeployTimeout  Duration     `yaml:"deploy_timeout" json:"deploy_timeout,omitempty"`
	DrainTimeout   Duration     `yaml:"drain_timeout" json:"drain_timeout,omitempty"`
	RollbackWindow Duration     `yaml:"rollback_window" json:"rollback_window,omitempty"`
}

// CanaryStep sends Weight percent of traffic to the canary for Pause.
type CanaryStep struct {
	Weight int      `yaml:"weight" json:"weight"`
	Pause  Duration `yaml:"pause" json:"pause,omitempty"`
}

// Analysis gates each canary step on the canary's own traffic.
type Analysis struct {
	MaxErrorRate  float64  `yaml:"max_error_rate" json:"max_error_rate,omitempty"`
	MaxP95Latency Duration `yaml:"max_p95_latency" json:"max_p95_latency,omitempty"`
	MinRequests   int      `yaml:"min_requests" json:"min_requests,omitempty"`
}

// Smoke is a check against a new release before it takes traffic.
type Smoke struct {
	Path         string `yaml:"path" json:"path,omitempty"`
	ExpectStatus int    `yaml:"expect_status" json:"expect_status,omitempty"`
	Run          string `yaml:"run" json:"run,omitempty"`
}

// ServiceEnvironment overrides a service's settings in one environment.
type ServiceEnvironment struct {
	Replicas int               `yaml:"replicas" json:"replicas,omitempty"`
	Routes   []string          `yaml:"routes" json:"routes,omitempty"`
	Env      map[string]string `yaml:"env" json:"env,omitempty"`
}

// Environment is a deploy target such as staging or production.
type Environment struct {
	Approval string `yaml:"approval" json:"approval,omitempty"` // "" | required
}

// AlertRule is a Prometheus alerting rule with a P0..P3 severity.
type AlertRule struct {
	Alert       string            `yaml:"alert" json:"alert"`
	Expr        string            `yaml:"expr" json:"expr"`
	For         Duration          `yaml:"for" json:"for,omitempty"`
	Severity    string            `yaml:"severity" json:"severity,omitempty"`
	Runbook     string            `yaml:"runbook" json:"runbook,omitempty"`
	Labels      map[string]string `yaml:"labels" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
}
