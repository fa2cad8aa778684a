// Package flags runs feature flags in the control plane: it resolves
// tug.yaml's flags with their run-time overrides (set, kill, reset) and
// ramps into the flag set the proxy evaluates, pushes it with the routing
// table whenever it changes, records every change in the store (who,
// when, before, after) for the services' timelines, derives each
// service's client key, and reports experiments per variant.
package flags

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// Sentinel errors; the API maps them to codes.
var (
	// ErrUnknownFlag: no flag of that name in tug.yaml.
	ErrUnknownFlag = errors.New("unknown flag")
	// ErrInvalid: a change that cannot apply (unknown variant or
	// environment, a bad percentage); nothing changed.
	ErrInvalid = errors.New("invalid flag change")
)

// Pusher puts the current flag set in force at the data plane: the deploy
// manager pushes it with the routing table (deploy.Manager.PushFlags).
// Called after every change, one call at a time; it honours ctx.
type Pusher interface {
	PushFlags(ctx context.Context) error
}

// Roller replaces the instances of service in env so they start with
// the flags' new environment variables, with the service's deploy
// strategy (deploy.Manager.Roll). It may take minutes; the manager calls
// it from its own goroutine and only logs the outcome. It honours ctx.
type Roller interface {
	Roll(ctx context.Context, service, env, who, reason string) error
}

// Options wire a Manager. Store is required.
type Options struct {
	Store *store.Store
	// Push puts each new flag set in force; nil keeps it for FlagSet only.
	Push Pusher
	// Roll rolls services whose flag environment variables changed; nil
	// leaves them until their next deploy.
	Roll Roller
	// Query evaluates PromQL to one number: ramps' error rates, reports.
	// A query that finds no series answers NaN.
	Query func(ctx context.Context, expr string) (float64, error)
	// StateDir keeps the master secret client keys derive from
	// (StateDir/flags/client.key).
	StateDir string
	// ProxyAddr is the proxy's HTTP listener; TUG_FLAGS_URL points at it.
	ProxyAddr string
	// ContainerProxyAddr is where containers reach the proxy's OFREP (the
	// Docker bridge's gateway): their TUG_FLAGS_URL points at it. ""
	// gives them ProxyAddr's.
	ContainerProxyAddr string
	// FlagsURL makes the OFREP base URL of an environment from ProxyAddr
	// (proxy.FlagsURL).
	FlagsURL func(addr, env string) string
	// RampEvery is how often ramps are stepped and checked (default 10s).
	RampEvery time.Duration
	// Audit records the changes ramps make on their own (each step, a
	// halt) in the audit log (the server's *audit.Log); nil records none.
	Audit  Recorder
	Now    func() time.Time
	Logger *slog.Logger
}

// Recorder writes the changes made without an API call to the audit log
// (the server's *audit.Log). Record is called once per change, after it
// is stored, with the manager's change lock held: it must not block long
// and honours ctx. An error is logged, never retried.
type Recorder interface {
	Record(ctx context.Context, r audit.Record) error
}

var _ Recorder = (*audit.Log)(nil)

// Record kinds in the store.
const (
	kindOverride = "override"
	kindRamp     = "ramp"
)

// Override is a run-time change of one flag in one environment, in force
// until reset; tug.yaml stays the desired state.
type Override struct {
	// Kill serves the flag's off variant to everyone.
	Kill bool `json:"kill,omitempty"`
	// Variant becomes the environment's default (no rollout).
	Variant string `json:"variant,omitempty"`
	// Rollout replaces the environment's rollout.
	Rollout []flagset.Share `json:"rollout,omitempty"`
	Who     string          `json:"who,omitempty"`
	At      time.Time       `json:"at"`
}

// Manager is the control plane's flag state. Safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	keys *keyring

	mu        sync.Mutex
	cfg       *config.Config
	overrides map[fe]*Override
	ramps     map[fe]*rampState
	set       *flagset.Set
	// changeMu serializes changes end to end (store, push), so pushes
	// reach the proxy in the order changes were made.
	changeMu sync.Mutex

	// repush asks the background loop to push again after a failed
	// push (a proxy restarting): the change is in force in the store and
	// here, and must reach the data plane as soon as it answers.
	repush chan struct{}

	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fe names one flag in one environment.
type fe struct{ flag, env string }

// New loads the overrides and ramps the store holds; call SetConfig,
// then Start.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("flags: Options.Store is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RampEvery <= 0 {
		opts.RampEvery = 10 * time.Second
	}
	keys, err := openKeyring(opts.StateDir)
	if err != nil {
		return nil, err
	}
	m := &Manager{opts: opts, log: opts.Logger, now: opts.Now, keys: keys, overrides: map[fe]*Override{}, ramps: map[fe]*rampState{}, repush: make(chan struct{}, 1)}
	m.bg, m.cancel = context.WithCancel(context.Background())
	recs, err := opts.Store.FlagRecords(ctx, kindOverride)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		var o Override
		if err := json.Unmarshal(r.Data, &o); err != nil {
			return nil, fmt.Errorf("flags: override of %s in %s: %w", r.Flag, r.Environment, err)
		}
		m.overrides[fe{r.Flag, r.Environment}] = &o
	}
	if recs, err = opts.Store.FlagRecords(ctx, kindRamp); err != nil {
		return nil, err
	}
	for _, r := range recs {
		var s rampState
		if err := json.Unmarshal(r.Data, &s); err != nil {
			return nil, fmt.Errorf("flags: ramp of %s in %s: %w", r.Flag, r.Environment, err)
		}
		m.ramps[fe{r.Flag, r.Environment}] = &s
	}
	return m, nil
}

// SetConfig puts c in force: the flag set is resolved again and pushed
// when it changed (a changed env value rolls the services that carry
// it). The first call only resolves: Start pushes.
func (m *Manager) SetConfig(ctx context.Context, c *config.Config) error {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	first := m.cfg == nil
	beforeEnv := m.envValuesLocked()
	before := m.set
	m.cfg = c
	m.set = m.resolveLocked()
	afterEnv := m.envValuesLocked()
	after := m.set
	m.mu.Unlock()
	if first {
		// tug.yaml may have been written back while tug was stopped.
		if err := m.endWrittenBack(ctx); err != nil {
			m.log.Warn("flags: ending the overrides tug.yaml now says", "err", err)
		}
		return nil
	}
	if err := m.recordConfigChanges(ctx, before, after); err != nil {
		m.log.Warn("flags: recording the config's flag changes", "err", err)
	}
	if err := m.endWrittenBack(ctx); err != nil {
		m.log.Warn("flags: ending the overrides tug.yaml now says", "err", err)
	}
	if err := m.rampLocked(ctx); err != nil {
		return err
	}
	m.rollChanged(beforeEnv, afterEnv, "config", "tug.yaml changed the flags")
	return m.push(ctx)
}

// Start pushes the flag set and starts stepping ramps; Close stops.
func (m *Manager) Start(ctx context.Context) error {
	if err := m.ramp(ctx); err != nil {
		m.log.Warn("flags: ramps", "err", err)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.opts.RampEvery)
		defer t.Stop()
		for {
			select {
			case <-m.bg.Done():
				return
			case <-t.C:
				if err := m.ramp(m.bg); err != nil && m.bg.Err() == nil {
					m.log.Warn("flags: ramps", "err", err)
				}
			case <-m.repush:
				m.pushUntilTaken()
			}
		}
	}()
	return m.push(ctx)
}

// Close stops the ramps and waits for rolls in flight to be told to stop.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// FlagSet is the resolved flag set, shared and never modified (the
// deploy manager puts it in every routing table).
func (m *Manager) FlagSet() *flagset.Set {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.set
}

func (m *Manager) push(ctx context.Context) error {
	if m.opts.Push == nil {
		return nil
	}
	if err := m.opts.Push.PushFlags(ctx); err != nil {
		select {
		case m.repush <- struct{}{}:
		default:
		}
		return fmt.Errorf("flags: push to the proxy (tried again until it takes it): %w", err)
	}
	return nil
}

// pushUntilTaken pushes the current set, backing off from 100ms to 2s,
// until the proxy takes it or the manager closes.
func (m *Manager) pushUntilTaken() {
	wait := 100 * time.Millisecond
	for {
		err := m.opts.Push.PushFlags(m.bg)
		if err == nil {
			m.log.Info("flags: the proxy took the flag set after a failed push")
			return
		}
		select {
		case <-m.bg.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// environments lists the config's environments ("default" without any).
func environments(c *config.Config) []string {
	if c == nil {
		return nil
	}
	if len(c.EnvironmentOrder) == 0 {
		return []string{"default"}
	}
	return slices.Clone(c.EnvironmentOrder)
}

// servicesOf are the services a flag reaches.
func servicesOf(c *config.Config, f *config.Flag) []string {
	if len(f.Services) > 0 {
		return slices.Sorted(slices.Values(f.Services))
	}
	return slices.Sorted(maps.Keys(c.Services))
}

// InstanceEnv is what an instance of service in env gets: the env values
// of the flags that reach it, TUG_FLAGS_URL (reachable from a container
// when container), and its client key (for TUG_FLAGS_KEY). Without flags
// in tug.yaml, nothing (the zero key). Safe for concurrent use.
func (m *Manager) InstanceEnv(service, env string, container bool) (map[string]string, secret.Value) {
	m.mu.Lock()
	none := m.cfg == nil || len(m.cfg.Flags) == 0
	vars := m.envValuesLocked()[service+"\x00"+env]
	m.mu.Unlock()
	if none {
		return nil, secret.Value{}
	}
	out := maps.Clone(vars)
	if out == nil {
		out = map[string]string{}
	}
	addr := m.opts.ProxyAddr
	if container && m.opts.ContainerProxyAddr != "" {
		addr = m.opts.ContainerProxyAddr
	}
	if m.opts.FlagsURL != nil && addr != "" {
		if u := m.opts.FlagsURL(addr, env); u != "" {
			out["TUG_FLAGS_URL"] = u
		}
	}
	return out, m.keys.key(service, env)
}
