package flags

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/store"
)

// Kinds of change in the history.
const (
	ChangeSet    = "set"
	ChangeKill   = "kill"
	ChangeReset  = "reset"
	ChangeRamp   = "ramp"
	ChangeHalt   = "halt"
	ChangeConfig = "config"
)

// FlagState is one flag in one environment as `tug flags ls` shows it.
type FlagState struct {
	Flag        string   `json:"flag"`
	Environment string   `json:"environment"`
	Type        string   `json:"type"`
	Variants    []string `json:"variants"`
	// Serves is what is served now; Desired what tug.yaml says. They
	// differ while an override is in force.
	Serves   string    `json:"serves"`
	Desired  string    `json:"desired"`
	Override *Override `json:"override,omitempty"`
	Ramp     *RampInfo `json:"ramp,omitempty"`
	// Env is the variable the flag is injected as, if any: changing it
	// rolls the services, slower than an evaluation.
	Env      string   `json:"env,omitempty"`
	Services []string `json:"services"`
}

// SetRequest is a run-time override of one flag in one environment:
// Variant alone serves it to everyone no rule matches; Rollout gives
// Variant (a boolean flag's true variant when empty) that percentage, the
// rest getting the environment's default.
type SetRequest struct {
	Environment string   `json:"environment"`
	Variant     string   `json:"variant,omitempty"`
	Rollout     *float64 `json:"rollout,omitempty"`
	Who         string   `json:"who,omitempty"`
}

// List is every flag in env (every environment when empty), by flag.
func (m *Manager) List(env string) ([]FlagState, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	envs, err := m.envsLocked(env)
	if err != nil {
		return nil, err
	}
	var out []FlagState
	for _, name := range slices.Sorted(maps.Keys(m.cfg.Flags)) {
		for _, e := range envs {
			out = append(out, m.stateLocked(name, e))
		}
	}
	return out, nil
}

func (m *Manager) stateLocked(name, env string) FlagState {
	f := m.cfg.Flags[name]
	st := FlagState{
		Flag: name, Environment: env, Type: f.Type,
		Variants: slices.Sorted(maps.Keys(f.Variants)),
		Serves:   Summary(m.set.Environments[env].Flags[name]),
		Desired:  Summary(m.desiredLocked(name, f, env)),
		Override: m.overrides[fe{name, env}],
		Env:      f.Env, Services: servicesOf(m.cfg, f),
	}
	if fenv := f.Environments[env]; fenv != nil && fenv.Ramp != nil {
		st.Ramp = m.rampInfoLocked(name, f, env)
	}
	return st
}

// envsLocked is env checked, or every environment when empty.
func (m *Manager) envsLocked(env string) ([]string, error) {
	all := environments(m.cfg)
	if env == "" {
		return all, nil
	}
	if !slices.Contains(all, env) {
		return nil, fmt.Errorf("%w: unknown environment %q%s", ErrInvalid, env, kit.DidYouMean(env, all))
	}
	return []string{env}, nil
}

func (m *Manager) flagLocked(name string) (*config.Flag, error) {
	if m.cfg == nil || m.cfg.Flags[name] == nil {
		var names []string
		if m.cfg != nil {
			names = slices.Sorted(maps.Keys(m.cfg.Flags))
		}
		return nil, fmt.Errorf("%w %q%s", ErrUnknownFlag, name, kit.DidYouMean(name, names))
	}
	return m.cfg.Flags[name], nil
}

// Set puts a run-time override in force in one environment.
func (m *Manager) Set(ctx context.Context, name string, req SetRequest) ([]FlagState, error) {
	if req.Environment == "" {
		return nil, fmt.Errorf("%w: an environment is required (--env)", ErrInvalid)
	}
	return m.change(ctx, name, req.Environment, ChangeSet, req.Who, func(f *config.Flag, env string, cur *flagset.Flag) (*Override, error) {
		o := &Override{Who: req.Who, At: m.now()}
		if req.Variant != "" {
			if _, ok := f.Variants[req.Variant]; !ok {
				return nil, fmt.Errorf("%w: flag %s has no variant %q%s", ErrInvalid, name, req.Variant, kit.DidYouMean(req.Variant, slices.Sorted(maps.Keys(f.Variants))))
			}
		}
		if req.Rollout == nil {
			if req.Variant == "" {
				return nil, fmt.Errorf("%w: say what to serve: a variant, a rollout percentage, or both", ErrInvalid)
			}
			o.Variant = req.Variant
			return o, nil
		}
		p := *req.Rollout
		if err := flagset.CheckShares([]flagset.Share{{Variant: "x", Percent: p}, {Variant: "y", Percent: 100 - p}}); err != nil || p < 0 || p > 100 {
			return nil, fmt.Errorf("%w: rollout %v%%: want 0 to 100, two decimals at most", ErrInvalid, p)
		}
		v := req.Variant
		if v == "" {
			if v = f.OnVariant(); v == "" {
				return nil, fmt.Errorf("%w: flag %s is not boolean: name the variant that gets %v%% (--variant)", ErrInvalid, name, p)
			}
		}
		rest := cur.Default
		if rest == v {
			// The environment serves v already: the rest get the flag's
			// off variant.
			if rest = f.OffVariant(); rest == v {
				return nil, fmt.Errorf("%w: %s is the default of %s in %s: a rollout needs another variant for the rest", ErrInvalid, v, name, env)
			}
		}
		o.Variant, o.Rollout = v, shares(v, rest, p)
		return o, nil
	})
}

// Kill serves the off variant to everyone in env (every environment when
// empty) until reset.
func (m *Manager) Kill(ctx context.Context, name, env, who string) ([]FlagState, error) {
	return m.change(ctx, name, env, ChangeKill, who, func(*config.Flag, string, *flagset.Flag) (*Override, error) {
		return &Override{Kill: true, Who: who, At: m.now()}, nil
	})
}

// Reset drops the override of env (every environment when empty): the
// flag is as tug.yaml says again, and a ramp starts from its first step.
func (m *Manager) Reset(ctx context.Context, name, env, who string) ([]FlagState, error) {
	return m.change(ctx, name, env, ChangeReset, who, func(*config.Flag, string, *flagset.Flag) (*Override, error) {
		return nil, nil
	})
}

// change computes, records and puts in force a new override for each
// environment, then pushes once.
func (m *Manager) change(ctx context.Context, name, env, kind, who string, next func(f *config.Flag, env string, cur *flagset.Flag) (*Override, error)) ([]FlagState, error) {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	m.mu.Lock()
	f, err := m.flagLocked(name)
	var envs []string
	if err == nil {
		envs, err = m.envsLocked(env)
	}
	type step struct {
		env    string
		o      *Override
		before string
	}
	var steps []step
	for _, e := range envs {
		if err != nil {
			break
		}
		desired := m.desiredLocked(name, f, e)
		var o *Override
		if o, err = next(f, e, desired); err == nil {
			steps = append(steps, step{e, o, describe(m.set.Environments[e].Flags[name])})
		}
	}
	beforeEnv := m.envValuesLocked()
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for _, s := range steps {
		var data []byte
		if s.o != nil {
			data, _ = json.Marshal(s.o)
		}
		m.mu.Lock()
		after := describe(applyOverride(m.desiredLocked(name, f, s.env), s.o))
		services := servicesOf(m.cfg, f)
		m.mu.Unlock()
		ch := &store.FlagChange{Flag: name, Environment: s.env, Services: services, Kind: kind, Who: who, Before: s.before, After: after}
		if err := m.opts.Store.ChangeFlag(ctx, kindOverride, data, ch); err != nil {
			return nil, err
		}
		if kind == ChangeReset {
			// Back to tug.yaml: a ramp starts over.
			if err := m.opts.Store.ChangeFlag(ctx, kindRamp, nil, &store.FlagChange{Flag: name, Environment: s.env}); err != nil {
				return nil, err
			}
		}
		m.mu.Lock()
		if s.o == nil {
			delete(m.overrides, fe{name, s.env})
			delete(m.ramps, fe{name, s.env})
		} else {
			m.overrides[fe{name, s.env}] = s.o
		}
		m.set = m.resolveLocked()
		m.mu.Unlock()
		m.log.Info("flag changed", "flag", name, "environment", s.env, "kind", kind, "who", who, "after", after)
	}
	m.mu.Lock()
	afterEnv := m.envValuesLocked()
	var states []FlagState
	for _, s := range steps {
		states = append(states, m.stateLocked(name, s.env))
	}
	m.mu.Unlock()
	if kind == ChangeReset {
		if err := m.rampLocked(ctx); err != nil {
			m.log.Warn("flags: ramps", "err", err)
		}
	}
	m.rollChanged(beforeEnv, afterEnv, who, "flag "+name+": "+kind)
	return states, m.push(ctx)
}

// endWrittenBack ends the overrides tug.yaml now says itself (the
// override was written back): each is recorded as a reset by tug.yaml,
// and what is served does not change. A kill is never written back:
// tug.yaml has no kill switch.
func (m *Manager) endWrittenBack(ctx context.Context) error {
	m.mu.Lock()
	var done []fe
	for k, o := range m.overrides {
		f := m.cfg.Flags[k.flag]
		if f == nil || o.Kill || m.set.Environments[k.env] == nil {
			continue
		}
		if desired := m.desiredLocked(k.flag, f, k.env); reflect.DeepEqual(applyOverride(desired, o), desired) {
			done = append(done, k)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(done, func(a, b fe) int { return strings.Compare(a.flag+"\x00"+a.env, b.flag+"\x00"+b.env) })
	for _, k := range done {
		m.mu.Lock()
		serves := describe(m.set.Environments[k.env].Flags[k.flag])
		services := servicesOf(m.cfg, m.cfg.Flags[k.flag])
		m.mu.Unlock()
		ch := &store.FlagChange{Flag: k.flag, Environment: k.env, Services: services, Kind: ChangeReset, Who: "tug.yaml",
			Before: serves, After: serves, Reason: "tug.yaml now says what the override served"}
		if err := m.opts.Store.ChangeFlag(ctx, kindOverride, nil, ch); err != nil {
			return err
		}
		m.mu.Lock()
		delete(m.overrides, k)
		m.set = m.resolveLocked()
		m.mu.Unlock()
		m.log.Info("flag override written back to tug.yaml", "flag", k.flag, "environment", k.env)
	}
	return nil
}

// rollChanged rolls every service whose flag variables changed.
func (m *Manager) rollChanged(before, after map[string]map[string]string, who, reason string) {
	if m.opts.Roll == nil {
		return
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if reflect.DeepEqual(before[k], after[k]) || before[k] == nil {
			continue
		}
		svc, env, _ := strings.Cut(k, "\x00")
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.log.Info("flags: rolling the service for its flag variables", "service", svc, "environment", env, "reason", reason)
			if err := m.opts.Roll.Roll(m.bg, svc, env, who, reason); err != nil {
				m.log.Warn("flags: rolling the service for its flag variables", "service", svc, "environment", env, "err", err)
			}
		}()
	}
}

// History is the flag changes q selects, oldest first.
func (m *Manager) History(ctx context.Context, q store.FlagChangeQuery) ([]store.FlagChange, error) {
	return m.opts.Store.FlagChanges(ctx, q)
}

// recordConfigChanges records, per flag and environment, what a new
// tug.yaml changed in what is served.
func (m *Manager) recordConfigChanges(ctx context.Context, before, after *flagset.Set) error {
	m.mu.Lock()
	c := m.cfg
	m.mu.Unlock()
	for env, e := range after.Environments {
		for name, f := range e.Flags {
			var was *flagset.Flag
			if b := before.Environments[env]; b != nil {
				was = b.Flags[name]
			}
			if reflect.DeepEqual(was, f) {
				continue
			}
			ch := &store.FlagChange{Flag: name, Environment: env, Services: servicesOf(c, c.Flags[name]), Kind: ChangeConfig, Who: "tug.yaml",
				Before: describe(was), After: describe(f)}
			if err := m.opts.Store.ChangeFlag(ctx, "", nil, ch); err != nil {
				return err
			}
		}
	}
	return nil
}
