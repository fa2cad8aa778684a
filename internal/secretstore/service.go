package secretstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// ErrVaultBackend: a store operation while secrets.backend is vault,
// whose values are managed in Vault.
var ErrVaultBackend = errors.New("secrets come from Vault")

// Event is one line of progress of a rollout: a service being rolled
// onto new secret values.
type Event struct {
	Time        time.Time `json:"time"`
	Service     string    `json:"service"`
	Environment string    `json:"environment"`
	Release     string    `json:"release,omitempty"`
	Phase       string    `json:"phase"`
	Message     string    `json:"message"`
}

// Rollout rolls a running service onto the current values of its
// secrets; the server implements it with the deploy manager's Redeploy
// (a new release of what runs, with the service's strategy, so requests
// keep being answered). Roll blocks until the release is live or failed,
// calls progress (which must not block) along the way, and says whether
// the service was running at all (running false: nothing to roll, no
// error). Calls may come from several goroutines; each honours ctx.
type Rollout interface {
	Roll(ctx context.Context, service, env, who, why string, progress func(Event)) (release string, running bool, err error)
}

// Rolled is the outcome of rolling one service onto a rotated value.
type Rolled struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Release is the new release (empty when not running).
	Release string `json:"release,omitempty"`
	// Outcome is live, failed or not_running.
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Rollout outcomes.
const (
	OutcomeLive       = "live"
	OutcomeFailed     = "failed"
	OutcomeNotRunning = "not_running"
)

// ServiceOptions wire a Service.
type ServiceOptions struct {
	Store *Store
	// Config returns the config in force. Required.
	Config func() *config.Config
	// Rollout rolls services onto rotated values; nil leaves them on the
	// old ones until their next deploy.
	Rollout Rollout
	// Life bounds rollouts: a client that stops following leaves them
	// running. Default: context.Background().
	Life context.Context
	// Actor names the caller of a request from its context (the access
	// layer's identity); "" falls back to the who the client sent.
	Actor  func(context.Context) string
	Logger *slog.Logger
}

// Service is what `tug secret` does, over the store and the config: the
// API's operations call it, and the CLI calls it directly on a state
// directory no server runs on. Safe for concurrent use.
type Service struct {
	o   ServiceOptions
	log *slog.Logger
}

// NewService returns a Service.
func NewService(o ServiceOptions) *Service {
	if o.Life == nil {
		o.Life = context.Background()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Actor == nil {
		o.Actor = func(context.Context) string { return "" }
	}
	return &Service{o: o, log: o.Logger}
}

// actor is who a request acts as: the identity on its context, else the
// who it sent, else "someone".
func (s *Service) actor(ctx context.Context, who string) string {
	if a := s.o.Actor(ctx); a != "" {
		return a
	}
	if who != "" {
		return who
	}
	return "someone"
}

// store is the store, unless the backend in force is Vault.
func (s *Service) store() (*Store, error) {
	if c := s.o.Config(); c != nil && c.SecretBackend() == config.BackendVault {
		return nil, fmt.Errorf("%w (secrets.backend: vault): set and read its values with Vault's own tools, under %s", ErrVaultBackend, vaultWhere(c))
	}
	return s.o.Store, nil
}

// CheckEnv refuses an environment tug.yaml does not declare.
func (s *Service) CheckEnv(env string) error {
	c := s.o.Config()
	if env == "" || c == nil || c.Environments[env] != nil || (len(c.Environments) == 0 && env == c.DefaultEnvironment()) {
		return nil
	}
	declared := c.EnvironmentOrder
	if len(declared) == 0 {
		declared = []string{c.DefaultEnvironment()}
	}
	return fmt.Errorf("%w: unknown environment %q%s; declared: %s", ErrInvalid, env, kit.DidYouMean(env, declared), strings.Join(declared, ", "))
}

// List is `tug secret ls`: every secret, or those env sees (its own and
// the shared ones).
func (s *Service) List(ctx context.Context, env string) ([]Secret, error) {
	if err := s.CheckEnv(env); err != nil {
		return nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	all, err := st.List(ctx)
	if err != nil || env == "" {
		return all, err
	}
	return slices.DeleteFunc(all, func(x Secret) bool { return x.Environment != "" && x.Environment != env }), nil
}

// Set is `tug secret set`: a new version of one value.
func (s *Service) Set(ctx context.Context, name, env string, value secret.Value, who string) (Written, error) {
	out, err := s.setMany(ctx, env, who, OriginSet, map[string]secret.Value{name: value})
	if err != nil {
		return Written{}, err
	}
	return out[0], nil
}

// Import is `tug secret import`: many values in one change.
func (s *Service) Import(ctx context.Context, env string, values map[string]secret.Value, who string) ([]Written, error) {
	if len(values) == 0 {
		return nil, fmt.Errorf("%w: nothing to import", ErrInvalid)
	}
	return s.setMany(ctx, env, who, OriginImport, values)
}

func (s *Service) setMany(ctx context.Context, env, who, origin string, values map[string]secret.Value) ([]Written, error) {
	if err := s.CheckEnv(env); err != nil {
		return nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	var writes []Write
	for _, name := range slices.Sorted(maps.Keys(values)) {
		writes = append(writes, Write{Name: name, Environment: env, Value: values[name], Origin: origin})
	}
	who = s.actor(ctx, who)
	out, err := st.Set(ctx, who, writes...)
	if err == nil {
		for _, w := range out {
			s.log.Info("secret stored", "secret", w.Secret.Name, "environment", w.Secret.Environment, "version", w.Secret.Version, "changed", w.Changed, "by", who, "origin", origin)
		}
	}
	return out, err
}

// Revealed is a secret's value as `tug secret get --reveal` shows it.
type Revealed struct {
	Name        string    `json:"name"`
	Environment string    `json:"environment,omitempty"`
	Version     int       `json:"version"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	// Value is the plain value: the one answer of the API that holds one.
	Value string `json:"value"`
}

// Reveal is `tug secret get --reveal`: the value env gets for name at
// version (0: current). The API audits every call.
func (s *Service) Reveal(ctx context.Context, name, env string, version int, who string) (Revealed, error) {
	if err := s.CheckEnv(env); err != nil {
		return Revealed{}, err
	}
	if version < 0 {
		return Revealed{}, fmt.Errorf("%w: version %d: want 1 or more", ErrInvalid, version)
	}
	st, err := s.store()
	if err != nil {
		return Revealed{}, err
	}
	v, sec, ver, err := st.Reveal(ctx, name, env, version)
	if err != nil {
		return Revealed{}, err
	}
	s.log.Info("secret revealed", "secret", name, "environment", sec.Environment, "version", ver.Version, "by", s.actor(ctx, who))
	return Revealed{Name: name, Environment: sec.Environment, Version: ver.Version, CreatedAt: ver.CreatedAt, CreatedBy: ver.CreatedBy, Value: v.Reveal()}, nil
}

// Removed is what `tug secret rm` did.
type Removed struct {
	Secret Secret `json:"secret"`
	// UsedBy lists the services that name the secret: their next deploy
	// to the environment is refused until it is set again.
	UsedBy []string `json:"used_by,omitempty"`
}

// Remove is `tug secret rm`.
func (s *Service) Remove(ctx context.Context, name, env, who string) (Removed, error) {
	if err := s.CheckEnv(env); err != nil {
		return Removed{}, err
	}
	st, err := s.store()
	if err != nil {
		return Removed{}, err
	}
	who = s.actor(ctx, who)
	sec, err := st.Remove(ctx, name, env, who)
	if err != nil {
		return Removed{}, err
	}
	s.log.Info("secret removed", "secret", name, "environment", env, "by", who)
	var used []string
	if c := s.o.Config(); c != nil {
		used = c.SecretUsers(name)
	}
	return Removed{Secret: sec, UsedBy: used}, nil
}

// Prune is `tug secret prune`.
func (s *Service) Prune(ctx context.Context, keep int, who string) (Pruned, error) {
	st, err := s.store()
	if err != nil {
		return Pruned{}, err
	}
	p, err := st.Prune(ctx, keep)
	if err == nil {
		s.log.Info("secret versions pruned", "keep", keep, "versions", p.Versions, "secrets", p.Secrets, "by", s.actor(ctx, who))
	}
	return p, err
}

// RotateRequest is `tug secret rotate`: a new value (given, or generated)
// rolled out to the running services that use the secret.
type RotateRequest struct {
	Name        string
	Environment string
	// Value is the new value; empty with Generate.
	Value    secret.Value
	Generate bool
	// Length of a generated value; 0 is the policy's, else 32.
	Length int
	Who    string
}

// Rotated is what a rotation did.
type Rotated struct {
	Written Written  `json:"written"`
	Rolled  []Rolled `json:"rolled"`
}

// Rotate stores the new value, then rolls every running service that
// gets the secret from the rotated entry onto it, one after another,
// under the server's life (a client that stops following changes
// nothing). progress hears of each step.
func (s *Service) Rotate(ctx context.Context, req RotateRequest, progress func(Event)) (Rotated, error) {
	if err := s.CheckEnv(req.Environment); err != nil {
		return Rotated{}, err
	}
	value := req.Value
	switch {
	case req.Generate && value.Reveal() != "":
		return Rotated{}, fmt.Errorf("%w: give a value or --generate, not both", ErrInvalid)
	case req.Generate:
		n := req.Length
		if n == 0 {
			n = s.policyLength(req.Name)
		}
		if n < 16 || n > 4096 {
			return Rotated{}, fmt.Errorf("%w: length %d: want 16 to 4096", ErrInvalid, n)
		}
		value = Generate(n)
	case value.Reveal() == "":
		return Rotated{}, fmt.Errorf("%w: %s: no new value (give one on stdin, or --generate)", ErrInvalid, req.Name)
	}
	st, err := s.store()
	if err != nil {
		return Rotated{}, err
	}
	who := s.actor(ctx, req.Who)
	origin := OriginRotate
	if req.Generate {
		origin = OriginGenerate
	}
	ws, err := st.Set(ctx, who, Write{Name: req.Name, Environment: req.Environment, Value: value, Origin: origin})
	if err != nil {
		return Rotated{}, err
	}
	out := Rotated{Written: ws[0]}
	s.log.Info("secret rotated", "secret", req.Name, "environment", req.Environment, "version", ws[0].Secret.Version, "by", who)
	if !ws[0].Changed {
		return out, nil
	}
	why := fmt.Sprintf("rotation of %s to v%d", req.Name, ws[0].Secret.Version)
	out.Rolled = s.rollOut(ctx, req.Name, req.Environment, why, who, progress)
	return out, nil
}

// policyLength is the length of a generated value of name.
func (s *Service) policyLength(name string) int {
	if c := s.o.Config(); c != nil && c.Secrets != nil {
		if p := c.Secrets.Policies[name]; p != nil && p.Length > 0 {
			return p.Length
		}
	}
	return config.DefaultSecretLength
}

// rollOut rolls the services using name onto its new value in scope (""
// the shared value: every environment without its own), under the
// server's life; it returns when they are done, or when ctx ends (the
// rollouts go on, their outcome in the log).
func (s *Service) rollOut(ctx context.Context, name, scope, why, who string, progress func(Event)) []Rolled {
	c := s.o.Config()
	if c == nil || s.o.Rollout == nil {
		return nil
	}
	own := func(string) bool { return false }
	if st, err := s.store(); scope == "" && err == nil {
		if list, err := st.List(ctx); err == nil {
			own = func(env string) bool {
				return slices.ContainsFunc(list, func(x Secret) bool { return x.Name == name && x.Environment == env && x.DeletedAt == nil })
			}
		}
	}
	return s.roll(ctx, c, name, scope, why, who, own, progress)
}

// roll redeploys each running service that names secret in the
// environments scope covers (all but those own says have their own
// value, for the shared scope ""), one after another.
func (s *Service) roll(ctx context.Context, c *config.Config, name, scope, why, who string, own func(env string) bool, progress func(Event)) []Rolled {
	type target struct{ service, env string }
	var targets []target
	envs := []string{scope}
	if scope == "" {
		envs = c.EnvironmentOrder
		if len(envs) == 0 {
			envs = []string{c.DefaultEnvironment()}
		}
	}
	for _, svc := range c.SecretUsers(name) {
		for _, env := range envs {
			if scope != "" || !own(env) {
				targets = append(targets, target{svc, env})
			}
		}
	}
	if progress == nil {
		progress = func(Event) {}
	}
	done := make(chan []Rolled, 1)
	go func() {
		var out []Rolled
		for _, t := range targets {
			rel, running, err := s.o.Rollout.Roll(s.o.Life, t.service, t.env, who, why, progress)
			r := Rolled{Service: t.service, Environment: t.env, Release: rel, Outcome: OutcomeLive}
			switch {
			case err != nil:
				r.Outcome, r.Error = OutcomeFailed, err.Error()
				s.log.Warn("rolling a service onto a new secret value failed", "service", t.service, "environment", t.env, "secret", name, "err", err)
			case !running:
				r.Outcome = OutcomeNotRunning
			default:
				s.log.Info("service rolled onto a new secret value", "service", t.service, "environment", t.env, "secret", name, "release", rel)
			}
			out = append(out, r)
		}
		done <- out
	}()
	select {
	case out := <-done:
		return out
	case <-ctx.Done():
		return nil
	}
}

// WatchVault asks the Vault in force (vault returns it; nil while the
// backend is the store) every refresh whether the values of the config's
// environments changed (someone rotated them in Vault), and rolls the
// running services that use a changed name onto it, as a rotation in the
// store does. It returns when ctx ends.
func (s *Service) WatchVault(ctx context.Context, vault func() *Vault) {
	seen := map[string]map[string]string{} // scope -> data
	vers := map[string]int{}
	var last *Vault
	for {
		c, v := s.o.Config(), vault()
		if v != last { // a new backend: start seeing afresh
			seen, vers, last = map[string]map[string]string{}, map[string]int{}, v
		}
		every := defaultRefresh
		if v != nil {
			every = v.refresh
		}
		if c != nil && v != nil {
			scopes := append([]string{""}, c.EnvironmentOrder...)
			if len(c.EnvironmentOrder) == 0 {
				scopes = append(scopes, c.DefaultEnvironment())
			}
			for _, scope := range scopes {
				ver, data, err := v.Current(ctx, scope)
				if err != nil {
					s.log.Warn("watching Vault for changed secrets", "err", err)
					continue
				}
				old, known := seen[scope]
				seen[scope] = data
				if !known || vers[scope] == ver {
					vers[scope] = ver
					continue
				}
				vers[scope] = ver
				for _, name := range changedKeys(old, data) {
					own := func(env string) bool {
						_, ok := seen[env][name]
						return ok
					}
					why := fmt.Sprintf("%s changed in Vault (%s v%d)", name, v.scopePath(scope), ver)
					s.roll(ctx, c, name, scope, why, "vault", own, nil)
				}
			}
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// changedKeys lists the keys whose values differ between a and b.
func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range b {
		if old, ok := a[k]; !ok || old != v {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// alphabet is what generated values are made of: letters and digits,
// safe in URLs, shells and connection strings.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a random value of n letters and digits (about 5.95
// bits each, from crypto/rand without modulo bias).
func Generate(n int) secret.Value {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[randIndex(len(alphabet))]
	}
	return secret.New(string(b))
}

// randIndex is a uniform index below n (< 256) by rejection sampling.
func randIndex(n int) int {
	limit := 256 - 256%n
	var one [1]byte
	for {
		if _, err := rand.Read(one[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
		if int(one[0]) < limit {
			return int(one[0]) % n
		}
	}
}
