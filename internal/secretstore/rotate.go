package secretstore

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/schedule"
)

// rotationFile keeps the rotation schedules' last ticks.
const rotationFile = "rotation.json"

// RotatorOptions wire a Rotator.
type RotatorOptions struct {
	Service *Service
	// StateDir holds the schedules' last ticks.
	StateDir string
	// Audit records each value the Rotator generates or rotates on its
	// own (the server's *audit.Log); nil records nothing.
	Audit  Recorder
	Logger *slog.Logger
}

// Recorder writes the changes made without an API call to the audit log
// (the server's *audit.Log). Record is called once per change, after it,
// from the goroutine that made it; it must not block long and honours
// ctx. An error is logged, never retried. A record names the secret,
// never its value.
type Recorder interface {
	Record(ctx context.Context, r audit.Record) error
}

var _ Recorder = (*audit.Log)(nil)

// Rotator rotates generated secrets (secrets.policies.NAME.rotate) on
// their schedule with the one schedule loop, generates at once those that
// have no value yet, and rolls the services using them onto the new
// values. Safe for concurrent use.
type Rotator struct {
	svc   *Service
	sched *schedule.Scheduler
	log   *slog.Logger
	audit Recorder

	// mu guards cfg.
	mu  sync.Mutex
	cfg *config.Config
	// rotating serializes rotations, so a tick and a start never generate
	// the same secret twice.
	rotating sync.Mutex
}

// NewRotator opens the schedules' state; Run fires them.
func NewRotator(o RotatorOptions) (*Rotator, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := schedule.OpenFileStore(filepath.Join(o.StateDir, Dir, rotationFile))
	if err != nil {
		return nil, err
	}
	return &Rotator{svc: o.Service, sched: schedule.New(schedule.Options{Store: st, Logger: o.Logger}), log: o.Logger, audit: o.Audit}, nil
}

// Run fires the schedules until ctx ends.
func (r *Rotator) Run(ctx context.Context) error { return r.sched.Run(ctx) }

// SetConfig sets a schedule per generated secret of c.
func (r *Rotator) SetConfig(c *config.Config) error {
	var entries []schedule.Entry
	for _, name := range generated(c) {
		entries = append(entries, schedule.Entry{
			Name: "secret/" + name,
			Spec: cron.Every(c.Secrets.Policies[name].Rotate.D()),
			Fire: func(ctx context.Context, _ time.Time) {
				r.rotate(ctx, name, "tug (scheduled rotation)", false)
			},
		})
	}
	r.mu.Lock()
	r.cfg = c
	r.mu.Unlock()
	return r.sched.Set(entries)
}

// GenerateMissing generates, under ctx, the generated secrets of the
// config in force that the store holds no value of yet.
func (r *Rotator) GenerateMissing(ctx context.Context) {
	r.mu.Lock()
	c := r.cfg
	r.mu.Unlock()
	for _, name := range generated(c) {
		r.rotate(ctx, name, "tug (generated)", true)
	}
}

// generated lists the secrets of c that tug generates and rotates.
func generated(c *config.Config) []string {
	if c == nil || c.Secrets == nil || c.SecretBackend() != config.BackendStore {
		return nil
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.Secrets.Policies)) {
		if p := c.Secrets.Policies[name]; p != nil && p.Rotate > 0 {
			out = append(out, name)
		}
	}
	return out
}

// rotate generates a new value of name in every scope the store holds it
// in (the shared one when none); onlyMissing generates only where there
// is no value yet.
func (r *Rotator) rotate(ctx context.Context, name, who string, onlyMissing bool) {
	r.rotating.Lock()
	defer r.rotating.Unlock()
	st, err := r.svc.store()
	if err != nil {
		r.log.Error("secret rotation", "secret", name, "err", err)
		return
	}
	list, err := st.List(ctx)
	if err != nil {
		r.log.Error("secret rotation", "secret", name, "err", err)
		return
	}
	var scopes []string
	for _, s := range list {
		if s.Name == name && s.DeletedAt == nil {
			scopes = append(scopes, s.Environment)
		}
	}
	if onlyMissing {
		// A first value rolls nothing: services get it at their next
		// deploy, as after `tug secret set`.
		if len(scopes) > 0 {
			return
		}
		ws, err := st.Set(ctx, who, Write{Name: name, Value: Generate(r.svc.policyLength(name)), Origin: OriginGenerate})
		if err != nil {
			r.log.Error("generating a secret", "secret", name, "err", err)
			r.record(ctx, who, "secret.generate", name, "", err)
			return
		}
		r.log.Info("secret generated", "secret", name, "version", ws[0].Secret.Version)
		r.record(ctx, who, "secret.generate", name, fmt.Sprintf("version %d", ws[0].Secret.Version), nil)
		return
	}
	if len(scopes) == 0 {
		scopes = []string{""}
	}
	for _, scope := range scopes {
		target := name
		if scope != "" {
			target += "/" + scope
		}
		res, err := r.svc.Rotate(ctx, RotateRequest{Name: name, Environment: scope, Generate: true, Who: who}, nil)
		if err != nil {
			r.log.Error("secret rotation", "secret", name, "environment", scope, "err", err)
			r.record(ctx, who, "secret.rotate", target, "", err)
			continue
		}
		r.log.Info("secret rotated on schedule", "secret", name, "environment", scope, "version", res.Written.Secret.Version, "rolled", len(res.Rolled))
		detail := fmt.Sprintf("version %d", res.Written.Secret.Version)
		for _, ro := range res.Rolled {
			if ro.Outcome == OutcomeNotRunning {
				continue
			}
			detail += fmt.Sprintf("; %s/%s %s", ro.Service, ro.Environment, ro.Outcome)
		}
		r.record(ctx, who, "secret.rotate", target, detail, nil)
	}
}

// record writes one change of the Rotator to the audit log: tug's own,
// named after what made it (who), the secret's name as its target.
func (r *Rotator) record(ctx context.Context, who, action, target, detail string, err error) {
	if r.audit == nil {
		return
	}
	rec := audit.Record{Actor: who, Action: action, Target: target, Outcome: audit.OK, Detail: detail}
	if err != nil {
		rec.Outcome, rec.Detail = audit.Failed, err.Error()
	}
	if aerr := r.audit.Record(context.WithoutCancel(ctx), rec); aerr != nil {
		r.log.Error("audit: recording a secret change", "action", action, "secret", target, "err", aerr)
	}
}

// AgeCollector exports, for the SecretTooOld alert, how old each secret's
// current value in the store is, and its max_age where one is set:
// tug_secret_age_seconds{secret, environment} and
// tug_secret_max_age_seconds{secret, environment} (environment absent for
// the shared value). It reads the store at each scrape and needs no key.
type AgeCollector struct {
	Store  *Store
	Config func() *config.Config
	Now    func() time.Time
}

var _ prometheus.Collector = (*AgeCollector)(nil)

var (
	ageDesc = prometheus.NewDesc("tug_secret_age_seconds",
		"How long ago the current value of a secret in the store was set.", []string{"secret", "environment"}, nil)
	maxAgeDesc = prometheus.NewDesc("tug_secret_max_age_seconds",
		"The max_age of a secret (secrets.max_age or its policy's); SecretTooOld fires above it.", []string{"secret", "environment"}, nil)
)

// Describe implements prometheus.Collector.
func (a *AgeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- ageDesc
	ch <- maxAgeDesc
}

// Collect implements prometheus.Collector.
func (a *AgeCollector) Collect(ch chan<- prometheus.Metric) {
	c := a.Config()
	if c == nil || c.SecretBackend() != config.BackendStore {
		return
	}
	list, err := a.Store.List(context.Background())
	if err != nil {
		return
	}
	now := a.Now()
	for _, s := range list {
		cur, ok := s.Current()
		if !ok {
			continue
		}
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, now.Sub(cur.CreatedAt).Seconds(), s.Name, s.Environment)
		if max := c.SecretMaxAge(s.Name); max > 0 {
			ch <- prometheus.MustNewConstMetric(maxAgeDesc, prometheus.GaugeValue, max.D().Seconds(), s.Name, s.Environment)
		}
	}
}
