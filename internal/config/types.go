// Package config loads tug.yaml: strict, positioned, and complete in its
// error reports. The Go types below are the single description of the file:
// the loader decodes by them and the JSON Schema is generated from them,
// each key's description from the comment of its field (a test makes every
// key have one: what it does, its default, an example).
package config

import "time"

// Config is a whole tug.yaml after loading, interpolation and validation.
type Config struct {
	// The format of this file. Required; the only version is 1. Example:
	// `version: 1`.
	Version int `yaml:"version" json:"version"`
	// The project's name, shown by `tug status` and the API. Default: none.
	// Example: `project: shop`.
	Project string `yaml:"project" json:"project"`
	// Bounds of the job cache kept in .tug/cache. Default: max_size 5GiB.
	// Example: `cache: {max_size: 10GiB}`.
	Cache CacheConfig `yaml:"cache" json:"cache"`
	// The CI/CD pipelines, by name: DAGs of jobs that `tug run [NAME]` runs.
	// Default: none. Example: `pipelines: {ci: {jobs: {test: {run: go test
	// ./...}}}}`.
	Pipelines map[string]*Pipeline `yaml:"pipelines" json:"pipelines"`
	// The long-running programs tug deploys, routes traffic to and watches, by
	// name. Default: none. Example: `services: {web: {run: ./bin/web, routes:
	// [web.localhost]}}`.
	Services map[string]*Service `yaml:"services" json:"services"`
	// The deploy targets, by name; the first one is where deploys go without
	// --env. Default: one environment named "default". Example: `environments:
	// {staging: {}, production: {approval: required}}`.
	Environments map[string]*Environment `yaml:"environments" json:"environments"`
	// Alerting rules in Prometheus syntax with a P0..P3 severity, beside the
	// default packs tug adds per service. Default: none (the default packs
	// only). Example: `alerts: [{alert: HighErrorRate, expr:
	// "service:error_ratio:rate5m > 0.05", for: 5m, severity: P0}]`.
	Alerts []*AlertRule `yaml:"alerts" json:"alerts"`
	// Globs (relative to tug.yaml) of Prometheus rule files loaded beside
	// alerts, as `promtool check rules` reads them; a glob matching no file is
	// an error. Default: none. Example: `alert_files: [rules/*.yml]`.
	AlertFiles []string `yaml:"alert_files" json:"alert_files,omitempty"`
	// How metrics are collected and kept. Default: scrape and evaluate every
	// 15s, keep 15d. Example: `monitoring: {scrape_interval: 15s, retention:
	// 30d}`.
	Monitoring *Monitoring `yaml:"monitoring" json:"monitoring,omitempty"`
	// Where alerts go: channels (webhook, Slack, email, Alertmanager) and
	// routes by label. Default: nowhere but `tug alerts`. Example: `notify:
	// {channels: [{name: ops, slack: {url: "https://hooks.slack.com/..."}}]}`.
	Notify *Notify `yaml:"notify" json:"notify,omitempty"`
	// The data plane's listeners; command-line flags win. Needs a restart of
	// the proxy (tug down, then tug up). Default: http on 127.0.0.1:8080.
	// Example: `proxy: {http: 127.0.0.1:8080}`.
	Proxy *Proxy `yaml:"proxy" json:"proxy,omitempty"`
	// How long service, proxy and tug logs are kept. Default: retention 7d.
	// Example: `logs: {retention: 14d}`.
	Logs *Logs `yaml:"logs" json:"logs,omitempty"`
	// How `tug server` runs pipelines on its own (pushes, webhooks,
	// schedules) and serves its image registry. Default: 2 runs at once, no
	// registry, no webhooks. Example: `server: {max_parallel_runs: 4}`.
	Server *Server `yaml:"server" json:"server,omitempty"`
	// Feature flags by name, evaluated by the proxy over OFREP. Default:
	// none. Example: `flags: {new-checkout: {type: boolean, variants: {on:
	// true, off: false}, default: off}}`.
	Flags map[string]*Flag `yaml:"flags" json:"flags,omitempty"`
	// Security scanning: extra advisories, the vulnerability database, the
	// failing severity, the baseline, suppressions and rescans of live
	// releases. Default: fail on nothing, database in the user cache,
	// rescans every 6h. Example: `scan: {fail_on: high, ignore: [{rule:
	// TUG-DF-002, reason: pinned by digest in CI}]}`.
	Scan *Scan `yaml:"scan" json:"scan,omitempty"`
	// The licence policy of dependencies, in SPDX identifiers; a dependency
	// whose licence cannot be identified is a finding too. Default: no
	// policy (licences are not checked). Example: `licenses: {allow: [MIT,
	// Apache-2.0], deny: [AGPL-3.0-only]}`.
	Licenses *Licenses `yaml:"licenses" json:"licenses,omitempty"`
	// Scheduled, encrypted, deduplicated backups (restic repositories) of
	// databases, directories and tug's own state, by name, each proven by a
	// restore test. Default: none. Example: `backups: {db: {postgres:
	// {url_secret: DATABASE_URL}, schedule: "0 3 * * *", to: {path:
	// /srv/backups}, password_secret: BACKUP_PASSWORD}}`.
	Backups map[string]*Backup `yaml:"backups" json:"backups,omitempty"`
	// Disaster-recovery drills: a whole rebuild from backups alone, on a
	// schedule. Default: a drill every quarter when backups are declared.
	// Example: `dr: {drill: {schedule: "0 4 1 * *", rto: 1h}}`.
	DR *DR `yaml:"dr" json:"dr,omitempty"`
	// Where the values of the secrets services and jobs name come from
	// (tug's encrypted store, or Vault), sealed files' recipients, rotation
	// and age alerts. Default: the store, then the environment and
	// .tug/secrets.env. Example: `secrets: {max_age: 90d, policies:
	// {SESSION_KEY: {rotate: 30d}}}`.
	Secrets *Secrets `yaml:"secrets" json:"secrets,omitempty"`
	// When firing alerts open incidents, how incidents page and escalate,
	// and the public status page. Default: P0 and P1 alerts open incidents,
	// grouped for 10m, escalating after 15m. Example: `incidents: {open_for:
	// [P0, P1], ack_timeout: 15m, escalation: [{channel: oncall}]}`.
	Incidents *Incidents `yaml:"incidents" json:"incidents,omitempty"`
	// On-call rotations, by name: who is on call now and next (`tug
	// oncall`), named by escalation levels. Default: none. Example: `oncall:
	// {primary: {rotation: [ana, ben], handoff: "mon 09:00", timezone:
	// UTC}}`.
	Oncall map[string]*Rotation `yaml:"oncall" json:"oncall,omitempty"`
	// Pages of PromQL panels, by name, for what the dashboard's own pages
	// do not show (business metrics such as orders or sign-ups); also
	// exported for Grafana. Default: none. Example: `dashboards: {business:
	// {rows: [{panels: [{title: Orders per minute, query:
	// "sum(rate(orders_total[5m])) * 60", unit: per_minute}]}]}}`.
	Dashboards map[string]*Dashboard `yaml:"dashboards" json:"dashboards,omitempty"`

	// File is the path the config was read from, for error messages.
	File string `yaml:"-" json:"-"`
	// Positions maps a dotted key path ("pipelines.ci.jobs.test.needs[0]") to
	// where it stands in File, so later checks can still point at it.
	Positions map[string]Pos `yaml:"-" json:"-"`
	// PipelineOrder and ServiceOrder keep declaration order, which maps lose.
	PipelineOrder []string `yaml:"-" json:"-"`
	ServiceOrder  []string `yaml:"-" json:"-"`
	// EnvironmentOrder is the declaration order of environments; the first is
	// the default target of deploy commands.
	EnvironmentOrder []string `yaml:"-" json:"-"`
}

// Pos is a 1-based line and column in a YAML file.
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// CacheConfig bounds the job cache.
type CacheConfig struct {
	// The most the job cache keeps; the least recently used entries go first.
	// Default: 5GiB. Example: `max_size: 10GiB`.
	MaxSize ByteSize `yaml:"max_size" json:"max_size"`
}

// ByteSize is a size in bytes written with a unit ("512MiB", "5GiB", "10MB").
type ByteSize int64

// Duration is a duration in the one syntax users type everywhere
// (kit.ParseDuration): "30s", "1h30m", "7d".
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
	// The events the pipeline runs for: push, tag, manual, or a mapping such
	// as {schedule: "0 3 * * *"}, {tag: "v*"}, {branch: main}. `tug run
	// --event E` refuses an event not named here (--force overrides). Default:
	// every event. Example: `on: [push, manual]`.
	On []Trigger `yaml:"on" json:"on"`
	// Environment variables of every job of the pipeline; a job's own env
	// wins. Default: none. Example: `env: {GOFLAGS: -mod=readonly}`.
	Env map[string]string `yaml:"env" json:"env"`
	// The order of stages: a job without needs waits for every job of the
	// earlier stages. Default: none (such jobs start at once). Example:
	// `stages: [build, test, deploy]`.
	Stages []string `yaml:"stages" json:"stages"`
	// The pipeline's jobs, by name. Required: a pipeline has at least one job.
	// Example: `jobs: {build: {run: make}, test: {needs: [build], run: make
	// test}}`.
	Jobs map[string]*Job `yaml:"jobs" json:"jobs"`
	// Groups the runs the server starts: one run of a group at a time, a
	// newer one supersedes those queued (and, with cancel_in_progress,
	// cancels the running one). Default: none. Example: `concurrency: {group:
	// "ci-${{ branch }}", cancel_in_progress: true}`.
	Concurrency *Concurrency `yaml:"concurrency" json:"concurrency,omitempty"`

	// JobOrder keeps declaration order of Jobs.
	JobOrder []string `yaml:"-" json:"-"`
}

// Trigger is an event that starts a pipeline: a plain event name ("push",
// "manual") or a mapping ({schedule: "0 3 * * *"} or {tag: "v*"}).
type Trigger struct {
	// An event name: push, tag or manual. Default: the event the other keys
	// imply. Example: `{event: push, branch: main}`.
	Event string `yaml:"event" json:"event,omitempty"`
	// A cron expression (five fields, or @hourly, @daily, @weekly, @monthly)
	// the pipeline runs on. Default: none. Example: `{schedule: "0 3 * * *"}`.
	Schedule string `yaml:"schedule" json:"schedule,omitempty"`
	// A glob of tags whose creation runs the pipeline. Default: none. Example:
	// `{tag: "v*"}`.
	Tag string `yaml:"tag" json:"tag,omitempty"`
	// A glob of branches whose pushes run the pipeline. Default: any branch.
	// Example: `{branch: "release/*"}`.
	Branch string `yaml:"branch" json:"branch,omitempty"`
	// The IANA time zone a schedule's times are read in. Default: the
	// server's local time. Example: `{schedule: "0 3 * * *", timezone:
	// Europe/Paris}`.
	Timezone string `yaml:"timezone" json:"timezone,omitempty"`
}

// Job is one unit of work in a pipeline. It has exactly one of Run, Steps,
// Deploy, Scan or BuildImage. Run and Steps[].Run are kept raw (no ${VAR} expansion at load
// time): the shell expands them when the job runs. If is an expr-lang
// boolean over branch, tag, event, commit (strings) and env, matrix
// (map[string]string).
type Job struct {
	// The stage the job belongs to (one of the pipeline's stages); without
	// needs it waits for the earlier stages. Default: none. Example: `stage:
	// test`.
	Stage string `yaml:"stage" json:"stage,omitempty"`
	// Jobs that must succeed first; the job starts the moment they have (a DAG
	// edge). `needs: []` starts at once whatever the stages say. Default: the
	// jobs of the earlier stages. Example: `needs: [build]`.
	Needs []string `yaml:"needs" json:"needs,omitempty"`
	// The script, run by bash -eo pipefail in the directory of tug.yaml. ${{
	// matrix.KEY }} is replaced; $VARS are the shell's. Exactly one of run,
	// steps, deploy, scan or build_image. Default: none. Example: `run: go test ./...`.
	Run string `yaml:"run" json:"run,omitempty"`
	// Named scripts run in order in one job, instead of run. Default: none.
	// Example: `steps: [{name: vet, run: go vet ./...}, {name: test, run: go
	// test ./...}]`.
	Steps []Step `yaml:"steps" json:"steps,omitempty"`
	// Environment variables of the job (beside the pipeline's). Default: none.
	// Example: `env: {CGO_ENABLED: "0"}`.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Globs of the files the job reads: while their content (and the job) is
	// unchanged, the job is skipped and its artifacts restored. Without inputs
	// the job always runs. Default: none (never cached). Example: `inputs:
	// ["**/*.go", go.mod]`.
	Inputs []string `yaml:"inputs" json:"inputs,omitempty"`
	// Globs of files the job produces, inside the workspace: kept with the run
	// and handed to the jobs that need this one. Default: none. Example:
	// `artifacts: [bin/app]`.
	Artifacts []string `yaml:"artifacts" json:"artifacts,omitempty"`
	// Runs the job once per combination of values, named job[k=v,...]; the
	// values are ${{ matrix.KEY }} and $MATRIX_KEY. Default: none (one
	// instance). Example: `matrix: {go: ["1.25", "1.26"], os: [linux]}`.
	Matrix *Matrix `yaml:"matrix" json:"matrix,omitempty"`
	// How long one attempt may run before it is killed. Default: no limit.
	// Example: `timeout: 10m`.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// How many more times a failed job is tried (0 to 10). Default: 0.
	// Example: `retry: 2`.
	Retry int `yaml:"retry" json:"retry,omitempty"`
	// Runs the job in a container of this local image (Docker engine) instead
	// of on the host. Default: the host. Example: `image: golang:1.26`.
	Image string `yaml:"image" json:"image,omitempty"`
	// Pulls image before the job runs; without it, only a local image is used.
	// Default: false. Example: `pull: true`.
	Pull bool `yaml:"pull" json:"pull,omitempty"`
	// Sidecar containers reachable by name while the job runs. Default: none.
	// Example: `services: [{name: db, image: postgres:16, env:
	// {POSTGRES_PASSWORD: test}}]`.
	Services []JobService `yaml:"services" json:"services,omitempty"`
	// A failure of the job does not fail the run. Default: false. Example:
	// `allow_failure: true`.
	AllowFailure bool `yaml:"allow_failure" json:"allow_failure,omitempty"`
	// A condition over branch, tag, event, commit, env and matrix; false skips
	// the job. Default: always true. Example: `if: branch == "main"`.
	If string `yaml:"if" json:"if,omitempty"`
	// When the job runs: on_success (its needs succeeded), on_failure (one
	// failed), always, or manual (only when named with `tug run --job`).
	// Default: on_success. Example: `when: manual`.
	When string `yaml:"when" json:"when,omitempty"`
	// Names of secrets given to the job as environment variables and masked in
	// every output. Default: none. Example: `secrets: [REGISTRY_TOKEN]`.
	Secrets []string `yaml:"secrets" json:"secrets,omitempty"`
	// Makes the job deploy a service through the tug server instead of running
	// a script. Default: none. Example: `deploy: {service: web, environment:
	// staging}`.
	Deploy *JobDeploy `yaml:"deploy" json:"deploy,omitempty"`
	// Makes the job build an image from a Dockerfile, tag it with the commit
	// and push it, instead of running a script. Default: none. Example:
	// `build_image: {name: shop, context: ., dockerfile: Dockerfile}`.
	BuildImage *ImageBuild `yaml:"build_image" json:"build_image,omitempty"`
	// Test report files the job writes, summarised in the run's output.
	// Default: none. Example: `reports: {junit: [reports/*.xml], coverage:
	// cover.out}`.
	Reports *Reports `yaml:"reports" json:"reports,omitempty"`
	// Makes the job scan the workspace in-process (secrets, deps, licenses,
	// iac, or a local image) instead of running a script; its findings show
	// in the run's summary. Default: none. Example: `scan: {secrets: true,
	// deps: true, fail_on: high}`.
	Scan *JobScan `yaml:"scan" json:"scan,omitempty"`
	// Checks of a deploy job's new release once it is live, each an HTTP
	// probe (path, expect_status, expect_body) or a command given the
	// release's URL as $TUG_SMOKE_URL; a failure rolls the environment back
	// and fails the job. Default: none. Example: `smoke: [{path: /healthz,
	// expect_status: 200}]`.
	Smoke []Smoke `yaml:"smoke" json:"smoke,omitempty"`
}

// Step is one named script of a job; steps run in order in one job.
type Step struct {
	// The step's name, shown in the log. Default: its number. Example: `name:
	// vet`.
	Name string `yaml:"name" json:"name,omitempty"`
	// The step's script (bash -eo pipefail). Required. Example: `run: go vet
	// ./...`.
	Run string `yaml:"run" json:"run"`
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
	// The host name the job reaches the sidecar by. Required. Example: `name:
	// db`.
	Name string `yaml:"name" json:"name"`
	// The sidecar's local image. Required. Example: `image: postgres:16`.
	Image string `yaml:"image" json:"image"`
	// Environment variables of the sidecar. Default: none. Example: `env:
	// {POSTGRES_PASSWORD: test}`.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
}

// JobDeploy makes a job deploy a service instead of running a script.
type JobDeploy struct {
	// The service to deploy. Required. Example: `service: web`.
	Service string `yaml:"service" json:"service"`
	// The environment to deploy to. Default: the first declared one. Example:
	// `environment: production`.
	Environment string `yaml:"environment" json:"environment,omitempty"`
}

// Reports names test report files a job produces.
type Reports struct {
	// Globs of JUnit XML files (inside the workspace); their passed, failed
	// and skipped tests are summarised. Default: none. Example: `junit:
	// [reports/junit.xml]`.
	JUnit []string `yaml:"junit" json:"junit,omitempty"`
	// A Go cover profile; its statement coverage is shown. Default: none.
	// Example: `coverage: reports/coverage.out`.
	Coverage string `yaml:"coverage" json:"coverage,omitempty"`
}

// Service is a long-running program tug deploys and watches.
type Service struct {
	// The command a release runs (bash, in the release's copy of the
	// repository at its revision): a process on this host. Exactly one of run,
	// image or build_image. Default: none. Example: `run: ./bin/web`.
	Run string `yaml:"run" json:"run,omitempty"`
	// A command run once per release, in its copy, before any instance starts.
	// Default: none. Example: `build: go build -o bin/web ./cmd/web`.
	Build string `yaml:"build" json:"build,omitempty"`
	// The image a release runs as containers (Docker engine), pinned to its ID
	// at deploy. Exactly one of run, image or build_image. Default: none.
	// Example: `image: registry.example.com/web:1.4`.
	Image string `yaml:"image" json:"image,omitempty"`
	// Builds the image each release runs from a Dockerfile, at the release's
	// commit (or takes the one a pipeline's build_image job pushed for it),
	// and pins its digest. Exactly one of run, image or build_image. Default:
	// none. Example: `build_image: {context: ., dockerfile: Dockerfile}`.
	BuildImage *ImageBuild `yaml:"build_image" json:"build_image,omitempty"`
	// Pulls image before every deploy, for a moving tag; without it an image
	// is pulled only when the engine lacks it. Default: false. Example: `pull:
	// true`.
	Pull bool `yaml:"pull" json:"pull,omitempty"`
	// The port the app listens on, given to it as $PORT: a container's port,
	// or for a process a fixed one. Default: a free port per process instance.
	// Example: `port: 8080`.
	Port int `yaml:"port" json:"port,omitempty"`
	// The health check each instance must pass before it takes traffic, and
	// that tug_instance_up reports. Default: a TCP connect to $PORT. Example:
	// `health: {path: /healthz, interval: 2s, timeout: 1s}`.
	Health *Health `yaml:"health" json:"health,omitempty"`
	// Where instances expose Prometheus metrics for tug to scrape. Default:
	// not scraped (tug's own metrics of the service still exist). Example:
	// `metrics: {path: /metrics}`.
	Metrics *MetricsEndpoint `yaml:"metrics" json:"metrics,omitempty"`
	// How many instances run. Default: 1. Example: `replicas: 2`.
	Replicas int `yaml:"replicas" json:"replicas,omitempty"`
	// Environment variables of every instance (beside TUG_SERVICE,
	// TUG_ENVIRONMENT, TUG_RELEASE, TUG_REVISION, TUG_INSTANCE and PORT).
	// Default: none. Example: `env: {LOG_LEVEL: info}`.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// Names of secrets given to instances as environment variables. Default:
	// none. Example: `secrets: [DATABASE_URL]`.
	Secrets []string `yaml:"secrets" json:"secrets,omitempty"`
	// Host names, with an optional /path prefix, the proxy routes to the
	// service; an environment without routes of its own uses these. Default:
	// none (not reachable through the proxy). Example: `routes:
	// ["web.localhost", "example.com/api"]`.
	Routes []string `yaml:"routes" json:"routes,omitempty"`
	// Pins a client to one instance by cookie, for apps that keep session
	// state in memory. Default: off. Example: `sticky: {cookie: session, ttl:
	// 1h}`.
	Sticky *Sticky `yaml:"sticky" json:"sticky,omitempty"`
	// An availability objective: burn-rate alerts and an error budget.
	// Default: none. Example: `slo: {availability: 99.9, window: 30d}`.
	SLO *SLO `yaml:"slo" json:"slo,omitempty"`
	// false turns the service's default alerts (HighErrorRate, HighLatency,
	// InstanceDown, CrashLooping) off. Default: true. Example:
	// `default_alerts: false`.
	DefaultAlerts *bool `yaml:"default_alerts" json:"default_alerts,omitempty"`
	// How a new release replaces the live one. Default: rolling, one instance
	// at a time. Example: `deploy: {strategy: canary}`.
	Deploy *DeployPolicy `yaml:"deploy" json:"deploy,omitempty"`
	// Settings that differ per environment, by environment name. Default: none
	// (the service's settings everywhere). Example: `environments:
	// {production: {replicas: 3, routes: [example.com]}}`.
	Environments map[string]*ServiceEnvironment `yaml:"environments" json:"environments,omitempty"`
	// A rate limit per client at the proxy (a token bucket); a client over
	// it gets 429 with Retry-After. Default: none. Example: `rate_limit:
	// {requests: 100, per: 1s, burst: 200, by: client_ip}`.
	RateLimit *RateLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	// The largest request body the proxy passes on; a larger one gets 413.
	// Default: no limit. Example: `max_body: 10MiB`.
	MaxBody ByteSize `yaml:"max_body" json:"max_body,omitempty"`
	// Response headers the proxy sets on every answer of the routes,
	// replacing the service's own; an empty value removes the header.
	// Default: none. Example: `headers: {X-Frame-Options: DENY,
	// X-Content-Type-Options: nosniff}`.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// HTTPS redirect and HSTS of the routes. Default: plain HTTP redirects
	// to HTTPS when proxy.https is set; no HSTS. Example: `https: {hsts:
	// 365d}`.
	HTTPS *ServiceHTTPS `yaml:"https" json:"https,omitempty"`
	// What tug does by itself when an alert fires on the service (recorded
	// in the incident): roll back, restart, scale out. Default: nothing.
	// Example: `remediation: [{alert: HighErrorRate, action: rollback,
	// within: 30m, mode: act}]`.
	Remediation []*Remediation `yaml:"remediation" json:"remediation,omitempty"`
}

// Health is an HTTP health check against each instance.
type Health struct {
	// The HTTP path checked: a 2xx or 3xx answer is healthy. Default: a TCP
	// connect instead. Example: `path: /healthz`.
	Path string `yaml:"path" json:"path"`
	// How often the check runs. Default: 2s. Example: `interval: 5s`.
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// How long one check may take. Default: 1s. Example: `timeout: 2s`.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// MetricsEndpoint is where an instance exposes Prometheus metrics.
type MetricsEndpoint struct {
	// The path of the Prometheus text exposition. Default: /metrics. Example:
	// `path: /internal/metrics`.
	Path string `yaml:"path" json:"path"`
}

// DeployPolicy says how a new release replaces the live one.
type DeployPolicy struct {
	// rolling (one instance at a time), blue-green (a full new set, then one
	// switch; the old set stays warm for rollback_window) or canary (traffic
	// moves in steps, each gated by analysis). Default: rolling. Example:
	// `strategy: canary`.
	Strategy string `yaml:"strategy" json:"strategy,omitempty"`
	// A canary's traffic steps, each held for its pause. Default: 10% for 30s,
	// then 50% for 30s, then 100%. Example: `steps: [{weight: 10, pause: 1m},
	// {weight: 50, pause: 5m}]`.
	Steps []CanaryStep `yaml:"steps" json:"steps,omitempty"`
	// What a canary step must show on the canary's own traffic to go on; a
	// failed check rolls back. Default: none. Example: `analysis:
	// {max_error_rate: 0.01, max_p95_latency: 300ms}`.
	Analysis *Analysis `yaml:"analysis" json:"analysis,omitempty"`
	// A check of each new instance before it takes traffic. Default: none.
	// Example: `smoke: {path: /healthz/deep, expect_status: 200}`.
	Smoke *Smoke `yaml:"smoke" json:"smoke,omitempty"`
	// How long health gates and canary analysis may wait. Default: 5m.
	// Example: `deploy_timeout: 10m`.
	DeployTimeout Duration `yaml:"deploy_timeout" json:"deploy_timeout,omitempty"`
	// How long an instance leaving the routing table may finish its in-flight
	// requests before it gets SIGTERM. Default: 30s. Example: `drain_timeout:
	// 1m`.
	DrainTimeout Duration `yaml:"drain_timeout" json:"drain_timeout,omitempty"`
	// How long blue-green keeps the previous release running, so a rollback is
	// one switch. Default: 5m. Example: `rollback_window: 15m`.
	RollbackWindow Duration `yaml:"rollback_window" json:"rollback_window,omitempty"`
}

// CanaryStep sends Weight percent of traffic to the canary for Pause.
type CanaryStep struct {
	// The percentage of traffic the canary gets (1 to 100, rising from step to
	// step). Required. Example: `weight: 10`.
	Weight int `yaml:"weight" json:"weight"`
	// How long the step holds before analysis decides. Default: 0. Example:
	// `pause: 1m`.
	Pause Duration `yaml:"pause" json:"pause,omitempty"`
}

// Analysis gates each canary step on the canary's own traffic.
type Analysis struct {
	// The highest share of 5xx answers the canary may give (0 to 1). Default:
	// not checked. Example: `max_error_rate: 0.05`.
	MaxErrorRate float64 `yaml:"max_error_rate" json:"max_error_rate,omitempty"`
	// The highest 95th-percentile latency of the canary. Default: not checked.
	// Example: `max_p95_latency: 500ms`.
	MaxP95Latency Duration `yaml:"max_p95_latency" json:"max_p95_latency,omitempty"`
	// How many canary requests a step waits for before judging (bounded by
	// deploy_timeout). Default: 0. Example: `min_requests: 100`.
	MinRequests int `yaml:"min_requests" json:"min_requests,omitempty"`
	// PromQL checks evaluated at each step; $RELEASE, $SERVICE and
	// $ENVIRONMENT are filled in. Default: none. Example: `queries: [{query:
	// 'sum(rate(orders_failed_total{release="$RELEASE"}[1m]))', max: 0.1}]`.
	Queries []AnalysisQuery `yaml:"queries" json:"queries,omitempty"`
}

// Smoke is a check against a new release before it takes traffic.
type Smoke struct {
	// An HTTP path GET from each new instance. Default: no HTTP check.
	// Example: `path: /healthz/deep`.
	Path string `yaml:"path" json:"path,omitempty"`
	// The status path must answer. Default: 200. Example: `expect_status:
	// 204`.
	ExpectStatus int `yaml:"expect_status" json:"expect_status,omitempty"`
	// Text the answer's body must contain. Default: not checked. Example:
	// `expect_body: '"status":"ok"'`.
	ExpectBody string `yaml:"expect_body" json:"expect_body,omitempty"`
	// A script run per new instance (bash), with $TUG_SMOKE_URL set to it; a
	// non-zero exit fails the deploy. Default: no script. Example: `run: curl
	// -fsS $TUG_SMOKE_URL/api/ping`.
	Run string `yaml:"run" json:"run,omitempty"`
}

// ServiceEnvironment overrides a service's settings in one environment.
type ServiceEnvironment struct {
	// How many instances run in this environment. Default: the service's
	// replicas. Example: `replicas: 3`.
	Replicas int `yaml:"replicas" json:"replicas,omitempty"`
	// The routes of this environment. Default: the service's routes (which
	// only one environment may use). Example: `routes: [shop.example.com]`.
	Routes []string `yaml:"routes" json:"routes,omitempty"`
	// Environment variables added to (and overriding) the service's. Default:
	// none. Example: `env: {LOG_LEVEL: warn}`.
	Env map[string]string `yaml:"env" json:"env,omitempty"`
	// The rate limit in this environment. Default: the service's. Example:
	// `rate_limit: {requests: 1000}`.
	RateLimit *RateLimit `yaml:"rate_limit" json:"rate_limit,omitempty"`
	// The largest request body in this environment. Default: the
	// service's. Example: `max_body: 1MiB`.
	MaxBody ByteSize `yaml:"max_body" json:"max_body,omitempty"`
	// Response headers added to (and overriding) the service's. Default:
	// none. Example: `headers: {X-Robots-Tag: noindex}`.
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	// HTTPS redirect and HSTS in this environment. Default: the service's.
	// Example: `https: {hsts: 365d}`.
	HTTPS *ServiceHTTPS `yaml:"https" json:"https,omitempty"`
}

// Environment is a deploy target such as staging or production.
type Environment struct {
	// required makes every deploy here wait for `tug approve RELEASE`; the
	// mapping form can also keep the deployer from approving their own
	// release. Default: none. Example: `approval: required`, or `approval:
	// {required: true, not_by: deployer}`.
	Approval Approval `yaml:"approval" json:"approval,omitzero"`
}

// AlertRule is a Prometheus alerting rule with a P0..P3 severity.
type AlertRule struct {
	// The alert's name. Required. Example: `alert: HighErrorRate`.
	Alert string `yaml:"alert" json:"alert"`
	// A PromQL expression; each series it returns is an alert. Required.
	// Example: `expr: service:error_ratio:rate5m > 0.05`.
	Expr string `yaml:"expr" json:"expr"`
	// How long expr must hold before the alert fires (pending until then).
	// Default: 0. Example: `for: 5m`.
	For Duration `yaml:"for" json:"for,omitempty"`
	// P0 (page now) to P3, or critical, high, warning, info. Default: P2.
	// Example: `severity: P0`.
	Severity string `yaml:"severity" json:"severity,omitempty"`
	// A link or path to what to do, sent with the alert. Default: none.
	// Example: `runbook: runbooks/high-error-rate.md`.
	Runbook string `yaml:"runbook" json:"runbook,omitempty"`
	// Labels added to the alert, for routing and silences. Default: none.
	// Example: `labels: {team: payments}`.
	Labels map[string]string `yaml:"labels" json:"labels,omitempty"`
	// Text sent with the alert; Go templates over $labels and $value. Default:
	// none. Example: `annotations: {summary: "{{ $labels.service }} fails"}`.
	Annotations map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	// How long the alert keeps firing after expr stops holding. Default: 0.
	// Example: `keep_firing_for: 10m`.
	KeepFiringFor Duration `yaml:"keep_firing_for" json:"keep_firing_for,omitempty"`
	// What tug does by itself when this alert fires on a service (its
	// service label), as services' remediation does. Default: nothing.
	// Example: `remediation: [{action: restart}]`.
	Remediation []*Remediation `yaml:"remediation" json:"remediation,omitempty"`
}

// AnalysisQuery is a PromQL canary check: the query's value must not exceed
// Max (and, when set, not fall below Min).
type AnalysisQuery struct {
	// A PromQL expression giving one number. Required. Example: `query:
	// 'sum(rate(errors_total{release="$RELEASE"}[1m]))'`.
	Query string `yaml:"query" json:"query"`
	// The highest value allowed; set max, min or both. Default: no upper
	// bound. Example: `max: 0.1`.
	Max *float64 `yaml:"max" json:"max,omitempty"`
	// The lowest value allowed. Default: no lower bound. Example: `min: 1`.
	Min *float64 `yaml:"min" json:"min,omitempty"`
}

// Sticky pins a client to one instance by cookie, for apps that keep
// session state in memory.
type Sticky struct {
	// The cookie's name. Default: tug_sticky. Example: `cookie: session`.
	Cookie string `yaml:"cookie" json:"cookie,omitempty"`
	// How long the cookie lasts. Default: the browser session. Example: `ttl:
	// 1h`.
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
}

// SLO is an availability objective; it generates burn-rate alerts and an
// error-budget figure.
type SLO struct {
	// The percentage of requests that must succeed (above 0, below 100).
	// Required. Example: `availability: 99.9`.
	Availability float64 `yaml:"availability" json:"availability"`
	// The period the error budget covers. Default: 30d. Example: `window:
	// 28d`.
	Window Duration `yaml:"window" json:"window,omitempty"`
}

// Proxy configures tug's data plane listeners; command-line flags win.
type Proxy struct {
	// The HTTP listener, host:port; --http wins. Default: 127.0.0.1:8080.
	// Example: `http: 0.0.0.0:80`.
	HTTP string `yaml:"http" json:"http,omitempty"`
	// An HTTPS listener, host:port (TLS 1.2 at least); needs tls. Default:
	// none. Example: `https: 0.0.0.0:443`.
	HTTPS string `yaml:"https" json:"https,omitempty"`
	// Where the https listener's certificates come from: files, the local CA
	// or ACME. Required with https. Example: `tls: {cert: certs/site.pem,
	// key: certs/site-key.pem}`.
	TLS *TLS `yaml:"tls" json:"tls,omitempty"`
	// false turns the JSON access log (.tug/proxy/access.log) off. Default:
	// true. Example: `access_log: false`.
	AccessLog *bool `yaml:"access_log" json:"access_log,omitempty"`
}

// TLS says where the https listener's certificates come from: files
// (cert and key), tug's local CA (local_ca), or ACME (acme); exactly one.
type TLS struct {
	// The PEM certificate chain, relative to tug.yaml. Required with key.
	// Example: `cert: certs/site.pem`.
	Cert string `yaml:"cert" json:"cert,omitempty"`
	// The PEM private key, relative to tug.yaml. Required with cert.
	// Example: `key: certs/site-key.pem`.
	Key string `yaml:"key" json:"key,omitempty"`
	// Certificates from tug's own local CA (.tug/certs/ca.pem), made for
	// localhost names on demand, for development; trust the CA once (`tug
	// ca`). Default: false. Example: `tls: {local_ca: true}`.
	LocalCA bool `yaml:"local_ca" json:"local_ca,omitempty"`
	// Certificates obtained and renewed automatically by ACME for the hosts
	// of the routes (localhost names get the local CA's). Default: none.
	// Example: `tls: {acme: {email: ops@example.com}}`.
	ACME *ACME `yaml:"acme" json:"acme,omitempty"`
}

// Logs sets how long service, proxy and tug logs are kept.
type Logs struct {
	// How long log lines are kept. Default: 7d. Example: `retention: 14d`.
	Retention Duration `yaml:"retention" json:"retention,omitempty"`
}
