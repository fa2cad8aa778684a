package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/secretstore"
)

// secretsRoom is the server's secrets: the sources deploys and the other
// rooms resolve names with (the store or Vault, then the environment and
// .tug/secrets.env), the service behind the secrets API, the rotation
// schedules, sealed files taken into the store, and Vault's watch.
type secretsRoom struct {
	d         *daemon
	log       *slog.Logger
	configDir string
	sources   *secretstore.Sources
	svc       *secretstore.Service
	rot       *secretstore.Rotator
	cfg       atomic.Pointer[config.Config]
	// mu serializes config changes (reloads) with the start's first one.
	mu sync.Mutex
}

// openSecrets builds the secrets room from the config loaded at start.
func (d *daemon) openSecrets(context.Context) error {
	r := &secretsRoom{d: d, log: d.log.With("room", "secrets"), configDir: filepath.Dir(d.o.ConfigPath)}
	r.sources = secretstore.NewSources(secretstore.SourcesOptions{
		StateDir: d.o.StateDir, ConfigDir: r.configDir, LookupEnv: d.o.LookupEnv, Overrides: d.o.SecretOverrides, Now: d.o.Now, Logger: r.log,
	})
	r.svc = secretstore.NewService(secretstore.ServiceOptions{
		Store: r.sources.Store(), Config: r.cfg.Load, Rollout: r, Logger: r.log, Actor: access.ActorOf,
	})
	rot, err := secretstore.NewRotator(secretstore.RotatorOptions{Service: r.svc, StateDir: d.o.StateDir, Audit: d.audit, Logger: r.log})
	if err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	r.rot = rot
	if err := r.setConfig(d.cfg); err != nil {
		return fmt.Errorf("secrets: %w", err)
	}
	ages := &secretstore.AgeCollector{Store: r.sources.Store(), Config: r.cfg.Load, Now: d.o.Now}
	if err := d.o.Registry.Register(ages); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return fmt.Errorf("secrets metrics: %w", err)
		}
	}
	d.later(func() { d.o.Registry.Unregister(ages) })
	if d.o.Secrets == nil {
		d.o.Secrets = r.sources.Values
	}
	d.secrets = r
	return nil
}

// setConfig takes a config in force: the key file and backend, the
// rotation schedules, and the sealed files of its environments.
func (r *secretsRoom) setConfig(c *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.sources.SetConfig(c); err != nil {
		return err
	}
	r.cfg.Store(c)
	if err := r.rot.SetConfig(c); err != nil {
		return err
	}
	envs := c.EnvironmentOrder
	if len(envs) == 0 {
		envs = []string{c.DefaultEnvironment()}
	}
	taken, err := r.sources.Store().TakeSealed(context.Background(), r.configDir, envs)
	for _, u := range taken {
		for _, w := range u.Written {
			if w.Changed {
				r.log.Info("sealed secret taken into the store", "secret", w.Secret.Name, "environment", u.Environment, "version", w.Secret.Version)
			}
		}
		if len(u.NotForUs) > 0 {
			r.log.Warn("sealed secrets not encrypted to this server's key: add its key (`tug secret key`) to secrets.recipients and seal them again",
				"environment", u.Environment, "secrets", u.NotForUs)
		}
	}
	if err != nil {
		// Sealed files are read again at the next reload; the store keeps
		// the values it has.
		r.log.Error("taking sealed secrets in", "err", err)
	}
	return nil
}

// run generates the secrets with a rotation policy that have no value
// yet, fires the rotation schedules and watches Vault, until ctx ends.
func (r *secretsRoom) run(ctx context.Context) {
	r.rot.GenerateMissing(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := r.rot.Run(ctx); err != nil {
			r.log.Error("rotation schedules stopped", "err", err)
		}
	})
	wg.Go(func() { r.svc.WatchVault(ctx, r.sources.Vault) })
	wg.Wait()
}

// Roll implements secretstore.Rollout with the deploy manager: a
// redeploy of what runs, under the server's life rather than the
// request's, so a client that stops following changes nothing.
func (r *secretsRoom) Roll(ctx context.Context, service, env, who, why string, progress func(secretstore.Event)) (string, bool, error) {
	d := r.d
	if d.mgr == nil || d.reqCtx == nil {
		return "", false, nil // not serving yet: the next deploy takes the value
	}
	rel, err := d.mgr.Redeploy(d.reqCtx, service, env, who, why, func(e deploy.Event) {
		progress(secretstore.Event{Time: e.Time, Service: service, Environment: env, Release: e.Release, Phase: e.Phase, Message: e.Message})
	})
	if errors.Is(err, deploy.ErrNotLive) {
		return "", false, nil
	}
	id := ""
	if rel != nil {
		id = rel.ID
	}
	return id, true, err
}

var _ secretstore.Rollout = (*secretsRoom)(nil)
