package secretstore

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// SourcesOptions configure Sources.
type SourcesOptions struct {
	// StateDir holds the store.
	StateDir string
	// ConfigDir is tug.yaml's directory: relative key files are taken
	// from it, and it holds the local secrets file.
	ConfigDir string
	LookupEnv func(string) (string, bool)
	// Overrides win over every source: a drill's scratch server points
	// the databases' URL secrets at the scratch copies with them. nil:
	// none.
	Overrides map[string]secret.Value
	// VaultHTTP is the HTTP client for Vault (tests); nil: Vault's own.
	VaultHTTP *http.Client
	Now       func() time.Time
	Logger    *slog.Logger
}

// Sources is where secret values come from, as the server and `tug run`
// resolve them: the backend in force (the store, or Vault), then the
// environment, then the local secrets file, so a laptop with only the
// environment still works. SetConfig follows the config (the key file,
// the backend); Resolve is safe for concurrent use with it.
type Sources struct {
	o     SourcesOptions
	store *Store
	over  secret.Env
	env   secret.Env
	file  *secret.File
	log   *slog.Logger

	mu       sync.Mutex
	vault    *Vault
	vaultCfg config.Secrets
	project  string
}

var _ secret.Resolver = (*Sources)(nil)

// NewSources returns the sources of a state directory; call SetConfig
// before the first Resolve.
func NewSources(o SourcesOptions) *Sources {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	warn := func(w string) { log.Warn(w) }
	var over secret.Env
	if len(o.Overrides) > 0 {
		over = func(n string) (string, bool) {
			v, ok := o.Overrides[n]
			return v.Reveal(), ok
		}
	}
	return &Sources{
		o:     o,
		over:  over,
		store: Open(o.StateDir, Options{Key: KeyFrom("", o.ConfigDir, o.LookupEnv), Now: o.Now, Warn: warn}),
		env:   secret.Env(o.LookupEnv),
		file:  &secret.File{Dir: o.ConfigDir, Warn: warn},
		log:   log,
	}
}

// Store is the encrypted store (whatever the backend, `tug secret`
// manages it).
func (s *Sources) Store() *Store { return s.store }

// SetConfig takes the secrets: section in force: the key file, and Vault
// when it is the backend (a new client when its settings changed).
func (s *Sources) SetConfig(c *config.Config) error {
	sc := c.Secrets
	keyFile := ""
	if sc != nil {
		keyFile = sc.KeyFile
	}
	s.store.SetKey(KeyFrom(keyFile, s.o.ConfigDir, s.o.LookupEnv))
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.SecretBackend() != config.BackendVault {
		s.vault = nil
		return nil
	}
	if s.vault != nil && reflect.DeepEqual(*sc, s.vaultCfg) && c.Project == s.project {
		return nil
	}
	v, err := NewVault(VaultOptions{Config: sc, Project: c.Project, Local: s.Local(), HTTPClient: s.o.VaultHTTP, Now: s.o.Now, Logger: s.log})
	if err != nil {
		return err
	}
	s.vault, s.vaultCfg, s.project = v, *sc, c.Project
	return nil
}

// Vault is the Vault source in force; nil unless secrets.backend is vault.
func (s *Sources) Vault() *Vault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vault
}

// Local resolves from what this machine holds (the store, the
// environment, the local file): Vault's own credentials come from it.
func (s *Sources) Local() secret.Resolver { return s.chain(s.store) }

// chain asks the overrides, first, the environment, the local file.
func (s *Sources) chain(first secret.Source) secret.Chain {
	c := secret.Chain{first, s.env, s.file}
	if s.over != nil {
		c = append(secret.Chain{s.over}, c...)
	}
	return c
}

// Resolve implements secret.Resolver.
func (s *Sources) Resolve(ctx context.Context, env string, names []string, pinned map[string]secret.Ref) (map[string]secret.Resolved, error) {
	first := secret.Source(s.store)
	if v := s.Vault(); v != nil {
		first = v
	}
	return s.chain(first).Resolve(ctx, env, names, pinned)
}

// Values resolves names with no environment (notification channels,
// webhooks, pipelines on a laptop) and drops the refs.
func (s *Sources) Values(ctx context.Context, names []string) (map[string]secret.Value, error) {
	got, err := s.Resolve(ctx, "", names, nil)
	if err != nil {
		return nil, err
	}
	return secret.Values(got), nil
}

// Every returns, for masking, every secret value something run on this
// machine could come to see: all the store keeps (every environment,
// every kept version), all of the local secrets file, and each secret c
// names resolved in each of its environments and with none (so Vault's
// and the environment's values too). What cannot be read is left out
// and logged, so one bad source masks no less of the others.
func (s *Sources) Every(ctx context.Context, c *config.Config) []secret.Value {
	vals, err := s.store.Values(ctx)
	if err != nil {
		s.log.Warn("masking: the store's values", "err", err)
	}
	if file, err := secret.ReadEnvFile(filepath.Join(s.o.ConfigDir, secret.LocalFile)); err == nil {
		for _, v := range file {
			vals = append(vals, secret.New(v))
		}
	}
	if c == nil {
		return vals
	}
	var names []string
	for _, svc := range c.Services {
		if svc != nil {
			names = append(names, svc.Secrets...)
		}
	}
	for _, p := range c.Pipelines {
		if p == nil {
			continue
		}
		for _, j := range p.Jobs {
			if j != nil {
				names = append(names, j.Secrets...)
			}
		}
	}
	if c.Secrets != nil {
		names = append(names, slices.Collect(maps.Keys(c.Secrets.Policies))...)
	}
	slices.Sort(names)
	envs := c.EnvironmentOrder
	if len(envs) == 0 {
		envs = []string{c.DefaultEnvironment()}
	}
	for _, env := range append([]string{""}, envs...) {
		for _, n := range slices.Compact(names) {
			// One at a time: a missing name leaves the others resolved.
			if got, err := s.Resolve(ctx, env, []string{n}, nil); err == nil {
				vals = append(vals, secret.Values(got)[n])
			}
		}
	}
	return vals
}

// StorePath is where a state directory's store lives, for messages.
func StorePath(stateDir string) string { return filepath.Join(stateDir, Dir, File) }

// String names the sources for messages.
func (s *Sources) String() string {
	if s.Vault() != nil {
		return fmt.Sprintf("Vault, the environment, %s", secret.LocalFile)
	}
	return fmt.Sprintf("the store (%s), the environment, %s", s.store.Path(), secret.LocalFile)
}
