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
	// AlertFiles are globs of Prometheus rule files, loaded beside Alerts.
	AlertFiles []string    `yaml:"alert_files" json:"alert_files,omitempty"`
	Monitoring *Monitoring `yaml:"monitoring" json:"monitoring,omitempty"`
	Notify     *Notify     `yaml:"notify" json:"notify,omitempty"`
	Proxy      *Proxy      `yaml:"proxy" json:"proxy,omitempty"`
	Logs       *Logs       `yaml:"logs" json:"logs,omitempty"`
	Scan       *Scan       `yaml:"scan" json:"scan,omitempty"`
	Licenses   *Licenses   `yaml:"licenses" json:"licenses,omitempty"`

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
	Scan         *JobScan          `yaml:"scan" json:"scan,omitempty"`
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
	Run   string `yaml:"run" json:"run,omitempty"`
	Build string `yaml:"build" json:"build,omitempty"`
	Image string `yaml:"image" json:"image,omitempty"`
	// Pull pulls Image before every deploy, for moving tags; without it an
	// image is pulled only when the engine lacks it.
	Pull     bool              `yaml:"pull" json:"pull,omitempty"`
	Port     int               `yaml:"port" json:"port,omitempty"`
	Health   *Health           `yaml:"health" json:"health,omitempty"`
	Metrics  *MetricsEndpoint  `yaml:"metrics" json:"metrics,omitempty"`
	Replicas int               `yaml:"replicas" json:"replicas,omitempty"`
	Env      map[string]string `yaml:"env" json:"env,omitempty"`
	Secrets  []string          `yaml:"secrets" json:"secrets,omitempty"`
	Routes   []string          `yaml:"routes" json:"routes,omitempty"`
	Sticky   *Sticky           `yaml:"sticky" json:"sticky,omitempty"`
	SLO      *SLO              `yaml:"slo" json:"slo,omitempty"`
	// DefaultAlerts turns the per-service default alert pack off when false.
	DefaultAlerts *bool                          `yaml:"default_alerts" json:"default_alerts,omitempty"`
	Deploy        *DeployPolicy                  `yaml:"deploy" json:"deploy,omitempty"`
	Environments  map[string]*ServiceEnvironment `yaml:"environments" json:"environments,omitempty"`
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
	// Queries are PromQL checks; each must stay within its bounds.
	Queries []AnalysisQuery `yaml:"queries" json:"queries,omitempty"`
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
	Alert         string            `yaml:"alert" json:"alert"`
	Expr          string            `yaml:"expr" json:"expr"`
	For           Duration          `yaml:"for" json:"for,omitempty"`
	Severity      string            `yaml:"severity" json:"severity,omitempty"`
	Runbook       string            `yaml:"runbook" json:"runbook,omitempty"`
	Labels        map[string]string `yaml:"labels" json:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	KeepFiringFor Duration          `yaml:"keep_firing_for" json:"keep_firing_for,omitempty"`
}

// AnalysisQuery is a PromQL canary check: the query's value must not exceed
// Max (and, when set, not fall below Min).
type AnalysisQuery struct {
	Query string   `yaml:"query" json:"query"`
	Max   *float64 `yaml:"max" json:"max,omitempty"`
	Min   *float64 `yaml:"min" json:"min,omitempty"`
}

// Sticky pins a client to one instance by cookie, for apps that keep
// session state in memory.
type Sticky struct {
	Cookie string   `yaml:"cookie" json:"cookie,omitempty"`
	TTL    Duration `yaml:"ttl" json:"ttl,omitempty"`
}

// SLO is an availability objective; it generates burn-rate alerts and an
// error-budget figure.
type SLO struct {
	Availability float64  `yaml:"availability" json:"availability"`
	Window       Duration `yaml:"window" json:"window,omitempty"`
}

// Monitoring tunes collection and storage of metrics.
type Monitoring struct {
	ScrapeInterval     Duration        `yaml:"scrape_interval" json:"scrape_interval,omitempty"`
	EvaluationInterval Duration        `yaml:"evaluation_interval" json:"evaluation_interval,omitempty"`
	Retention          Duration        `yaml:"retention" json:"retention,omitempty"`
	Scrape             []*ScrapeConfig `yaml:"scrape" json:"scrape,omitempty"`
	// DefaultAlerts turns the built-in alert packs off for every service.
	DefaultAlerts *bool `yaml:"default_alerts" json:"default_alerts,omitempty"`
}

// ScrapeConfig is an extra target tug scrapes but does not run.
type ScrapeConfig struct {
	Job         string   `yaml:"job" json:"job"`
	Targets     []string `yaml:"targets" json:"targets"`
	MetricsPath string   `yaml:"metrics_path" json:"metrics_path,omitempty"`
}

// Notify declares where alerts go.
type Notify struct {
	Channels []*Channel     `yaml:"channels" json:"channels,omitempty"`
	Routes   []*NotifyRoute `yaml:"routes" json:"routes,omitempty"`
}

// Channel is one notification target; exactly one kind is set.
type Channel struct {
	Name         string        `yaml:"name" json:"name"`
	Webhook      *URLChannel   `yaml:"webhook" json:"webhook,omitempty"`
	Slack        *URLChannel   `yaml:"slack" json:"slack,omitempty"`
	Email        *EmailChannel `yaml:"email" json:"email,omitempty"`
	Alertmanager *URLChannel   `yaml:"alertmanager" json:"alertmanager,omitempty"`
}

// URLChannel is a channel reached by one HTTP URL.
type URLChannel struct {
	URL string `yaml:"url" json:"url"`
}

// EmailChannel sends mail over SMTP.
type EmailChannel struct {
	To   []string `yaml:"to" json:"to"`
	SMTP SMTP     `yaml:"smtp" json:"smtp"`
}

// SMTP is a mail relay.
type SMTP struct {
	Host     string `yaml:"host" json:"host"`
	Port     int    `yaml:"port" json:"port,omitempty"`
	From     string `yaml:"from" json:"from"`
	Username string `yaml:"username" json:"username,omitempty"`
	// Password names a secret, never the value itself.
	Password string `yaml:"password_secret" json:"password_secret,omitempty"`
}

// NotifyRoute sends alerts whose labels match to one channel.
type NotifyRoute struct {
	// Match maps a label to a regular expression anchored at both ends.
	Match          map[string]string `yaml:"match" json:"match,omitempty"`
	Channel        string            `yaml:"channel" json:"channel"`
	GroupBy        []string          `yaml:"group_by" json:"group_by,omitempty"`
	GroupWait      Duration          `yaml:"group_wait" json:"group_wait,omitempty"`
	GroupInterval  Duration          `yaml:"group_interval" json:"group_interval,omitempty"`
	RepeatInterval Duration          `yaml:"repeat_interval" json:"repeat_interval,omitempty"`
	// Continue lets later routes match too.
	Continue bool `yaml:"continue" json:"continue,omitempty"`
}

// Proxy configures tug's data plane listeners; command-line flags win.
type Proxy struct {
	HTTP  string `yaml:"http" json:"http,omitempty"`
	HTTPS string `yaml:"https" json:"https,omitempty"`
	TLS   *TLS   `yaml:"tls" json:"tls,omitempty"`
	// AccessLog turns the JSON access log off when false.
	AccessLog *bool `yaml:"access_log" json:"access_log,omitempty"`
}

// TLS names certificate and key files in PEM.
type TLS struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// Logs sets how long service, proxy and tug logs are kept.
type Logs struct {
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
}

// Scan configures `tug scan`, scan jobs and the server's rescans of live
// releases.
type Scan struct {
	// Advisories are directories of OSV records (any ecosystem) checked
	// besides the vulnerability database, relative to tug.yaml.
	Advisories []string `yaml:"advisories" json:"advisories,omitempty"`
	// Database is the offline vulnerability database's directory
	// (default: tug's directory in the user cache).
	Database string `yaml:"database" json:"database,omitempty"`
	// StaleAfter is the database age that earns a warning (default 7d).
	StaleAfter Duration `yaml:"stale_after" json:"stale_after,omitempty"`
	// FailOn is the lowest severity that fails `tug scan` and scan jobs.
	FailOn string `yaml:"fail_on" json:"fail_on,omitempty"`
	// Baseline is the baseline file, relative to tug.yaml: findings in it
	// do not fail.
	Baseline string `yaml:"baseline" json:"baseline,omitempty"`
	// Ignore suppresses findings, each with a reason.
	Ignore []*ScanIgnore `yaml:"ignore" json:"ignore,omitempty"`
	// Rescan is how often the server rescans live releases (default 6h).
	Rescan Duration `yaml:"rescan" json:"rescan,omitempty"`
}

// ScanIgnore suppresses the findings it matches: by fingerprint, rule,
// path glob, or a combination (all given must match).
type ScanIgnore struct {
	Fingerprint string `yaml:"fingerprint" json:"fingerprint,omitempty"`
	Rule        string `yaml:"rule" json:"rule,omitempty"`
	Path        string `yaml:"path" json:"path,omitempty"`
	Reason      string `yaml:"reason" json:"reason"`
	// Expires is a date (YYYY-MM-DD) after which the finding is back.
	Expires string `yaml:"expires" json:"expires,omitempty"`
}

// Licenses is the licence policy of dependencies, in SPDX identifiers.
type Licenses struct {
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	Deny  []string `yaml:"deny" json:"deny,omitempty"`
}

// JobScan makes a job scan the workspace in-process instead of running a
// script. With none of secrets, deps, licenses, iac set, all four run.
type JobScan struct {
	Secrets  *bool  `yaml:"secrets" json:"secrets,omitempty"`
	Deps     *bool  `yaml:"deps" json:"deps,omitempty"`
	Licenses *bool  `yaml:"licenses" json:"licenses,omitempty"`
	IaC      *bool  `yaml:"iac" json:"iac,omitempty"`
	Image    string `yaml:"image" json:"image,omitempty"`
	// FailOn overrides scan.fail_on for this job.
	FailOn string `yaml:"fail_on" json:"fail_on,omitempty"`
}
