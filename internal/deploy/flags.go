package deploy

import (
	"context"
	"fmt"
	"maps"

	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/secret"
)

// FlagKeyVar is the variable an instance finds its flag client key in.
const FlagKeyVar = "TUG_FLAGS_KEY"

// FlagSource is the feature flags as the deployer sees them (the flags
// room's Manager implements it). FlagSet is the set every routing table
// carries; InstanceEnv is what an instance of service in env gets: the
// flags' variables (TUG_FLAGS_URL among them, one a container reaches
// when container) and its client key. Both
// are safe for concurrent use and do not block.
type FlagSource interface {
	FlagSet() *flagset.Set
	InstanceEnv(service, env string, container bool) (map[string]string, secret.Value)
}

// PushFlags pushes the routing table with the flag source's current set
// (flags.Pusher): a flag change reaches the proxy without a deploy.
func (m *Manager) PushFlags(ctx context.Context) error { return m.push(ctx) }

// flagSet is the set the next table carries (nil without a source).
func (m *Manager) flagSet() *flagset.Set {
	if m.opts.Flags == nil {
		return nil
	}
	return m.opts.Flags.FlagSet()
}

// addFlagEnv adds the flags' variables of p's service and environment to
// p.Env: they are part of the release, so a change of them is a new one.
func (m *Manager) addFlagEnv(p *plan) {
	if m.opts.Flags == nil {
		return
	}
	vars, _ := m.opts.Flags.InstanceEnv(p.Service, p.Environment, p.Runtime == "docker")
	if len(vars) == 0 {
		return
	}
	if p.Env == nil {
		p.Env = map[string]string{}
	}
	maps.Copy(p.Env, vars)
}

// withFlagKey adds the instance's flag client key to its secrets, so it
// reaches the instance as secrets do (masked in its logs, never in a
// container's configuration); without flags there is none to add.
func (m *Manager) withFlagKey(p *plan, secrets map[string]secret.Value) map[string]secret.Value {
	if m.opts.Flags == nil {
		return secrets
	}
	_, key := m.opts.Flags.InstanceEnv(p.Service, p.Environment, false)
	if key.Reveal() == "" {
		return secrets // no flags: no key
	}
	out := maps.Clone(secrets)
	if out == nil {
		out = map[string]secret.Value{}
	}
	out[FlagKeyVar] = key
	return out
}

// Roll deploys the live revision of service in env again with the
// service's strategy, so its instances start with the flags' new
// variables (flags.Roller). Nothing runs there: nothing to do.
func (m *Manager) Roll(ctx context.Context, service, env, who, reason string) error {
	st := m.snapshot(key{service, env})
	if st.Live == "" {
		return nil
	}
	rel, err := m.opts.Store.GetRelease(ctx, st.Live)
	if err != nil {
		return fmt.Errorf("deploy: roll %s in %s: %w", service, env, err)
	}
	version := rel.Revision
	if version == revisionWorktree {
		version = "" // the work tree as it is: not one revision
	}
	_, err = m.Deploy(ctx, Request{Service: service, Environment: env, Version: version, Who: who, Force: true}, func(e Event) {
		m.log.Info("rolling for a flag change", "service", service, "environment", env, "reason", reason, "phase", e.Phase, "message", e.Message)
	})
	return err
}
