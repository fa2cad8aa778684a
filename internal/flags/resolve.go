package flags

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/flagset"
)

// resolveLocked builds the flag set from the config, the ramps and the
// overrides; m.mu must be held.
func (m *Manager) resolveLocked() *flagset.Set {
	c := m.cfg
	set := &flagset.Set{Environments: map[string]*flagset.Env{}}
	if c == nil {
		return set
	}
	for _, env := range environments(c) {
		e := &flagset.Env{Flags: map[string]*flagset.Flag{}, Keys: map[string]string{}}
		for _, svc := range c.ServiceOrder {
			e.Keys[hash(m.keys.key(svc, env))] = svc
		}
		for name, f := range c.Flags {
			e.Flags[name] = applyOverride(m.desiredLocked(name, f, env), m.overrides[fe{name, env}])
		}
		set.Environments[env] = e
	}
	return set
}

// desiredLocked is a flag in env as tug.yaml (and its ramp's current
// step) makes it.
func (m *Manager) desiredLocked(name string, f *config.Flag, env string) *flagset.Flag {
	out := &flagset.Flag{Type: f.Type, Variants: map[string]json.RawMessage{}, Default: f.Default, Off: f.OffVariant()}
	for vn, v := range f.Variants {
		out.Variants[vn] = v.JSON
	}
	for _, r := range f.Rules {
		out.Rules = append(out.Rules, flagset.Rule{If: r.If, Variant: r.Variant})
	}
	if f.Description != "" {
		out.Metadata = map[string]any{"description": f.Description}
	}
	fenv := f.Environments[env]
	if fenv == nil {
		return out
	}
	if fenv.Default != "" {
		out.Default = fenv.Default
	}
	for _, vn := range slices.Sorted(maps.Keys(fenv.Rollout)) {
		out.Rollout = append(out.Rollout, flagset.Share{Variant: vn, Percent: fenv.Rollout[vn]})
	}
	if r := fenv.Ramp; r != nil && len(r.Steps) > 0 {
		step := 0
		if st := m.ramps[fe{name, env}]; st != nil && st.Hash == rampHash(f, env) {
			step = min(st.Step, len(r.Steps)-1)
		}
		out.Rollout = shares(rampVariant(f, r), out.Default, float64(r.Steps[step].Weight))
	}
	return out
}

// rampVariant is the variant a ramp moves users to.
func rampVariant(f *config.Flag, r *config.FlagRamp) string {
	if r.Variant != "" {
		return r.Variant
	}
	return f.OnVariant()
}

// shares gives v percent, the rest to rest, in the order of the names
// (two shares keep every key's variant as the percentage grows).
func shares(v, rest string, percent float64) []flagset.Share {
	if v == rest {
		return nil
	}
	out := []flagset.Share{{Variant: v, Percent: percent}, {Variant: rest, Percent: 100 - percent}}
	slices.SortFunc(out, func(a, b flagset.Share) int { return strings.Compare(a.Variant, b.Variant) })
	return out
}

// applyOverride returns f with o in force (f itself when o is nil).
func applyOverride(f *flagset.Flag, o *Override) *flagset.Flag {
	if o == nil {
		return f
	}
	c := *f
	switch {
	case o.Kill:
		c.Disabled = true
	case o.Variant != "" && len(o.Rollout) == 0:
		c.Default, c.Rollout = o.Variant, nil
	case len(o.Rollout) > 0:
		c.Rollout = o.Rollout
	}
	return &c
}

// envValuesLocked maps "service NUL env" to the flag variables its
// instances get: each flag's value for the environment without a context
// (its default, or its off variant when killed).
func (m *Manager) envValuesLocked() map[string]map[string]string {
	out := map[string]map[string]string{}
	c := m.cfg
	if c == nil || m.set == nil {
		return out
	}
	for name, f := range c.Flags {
		if f.Env == "" {
			continue
		}
		for env, e := range m.set.Environments {
			rf := e.Flags[name]
			if rf == nil {
				continue
			}
			v := rf.Default
			if rf.Disabled && rf.Off != "" {
				v = rf.Off
			}
			val := config.EnvValue(rf.Variants[v])
			for _, svc := range servicesOf(c, f) {
				k := svc + "\x00" + env
				if out[k] == nil {
					out[k] = map[string]string{}
				}
				out[k][f.Env] = val
			}
		}
	}
	return out
}

// Summary says in one line what f serves: "killed: off", "on",
// "on 25% · off 75%", with its rules counted.
func Summary(f *flagset.Flag) string {
	if f == nil {
		return ""
	}
	if f.Disabled {
		off := f.Off
		if off == "" {
			off = f.Default
		}
		return "killed: " + off
	}
	var s string
	if len(f.Rollout) > 0 {
		parts := make([]string, len(f.Rollout))
		for i, sh := range f.Rollout {
			parts[i] = sh.Variant + " " + strconv.FormatFloat(sh.Percent, 'f', -1, 64) + "%"
		}
		s = strings.Join(parts, " · ")
	} else {
		s = f.Default
	}
	if n := len(f.Rules); n > 0 {
		s += fmt.Sprintf(" (+%d rule", n)
		if n > 1 {
			s += "s"
		}
		s += ")"
	}
	return s
}

// describe is the JSON a change records as before or after.
func describe(f *flagset.Flag) string {
	if f == nil {
		return ""
	}
	b, _ := json.Marshal(struct {
		Serves   string          `json:"serves"`
		Default  string          `json:"default"`
		Rollout  []flagset.Share `json:"rollout,omitempty"`
		Disabled bool            `json:"disabled,omitempty"`
	}{Summary(f), f.Default, f.Rollout, f.Disabled})
	return string(b)
}
