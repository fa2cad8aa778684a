package config

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/kit"
)

// flags checks the `flags:` section with the data plane's own compiler:
// names, types and values of variants, every variant a flag names,
// rules, rollouts summing to 100, ramps, env names and services.
func (v *validator) flags() {
	envVars := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(v.c.Flags)) {
		fp := "flags." + name
		f := v.c.Flags[name]
		if !flagset.ValidName(name) {
			v.errorKey(fp, fp, "invalid flag name %q: use letters, digits, _ . - (not starting with a punctuation mark)", name)
		}
		if f == nil {
			v.errorKey(fp, fp, "empty flag: set type, variants and default")
			continue
		}
		switch {
		case f.Type == "":
			v.errorKey(fp, fp, "type is required: one of %s", strings.Join(flagset.Types(), ", "))
		case !slices.Contains(flagset.Types(), f.Type):
			v.enum(fp+".type", f.Type, flagset.Types()...)
		}
		variants := slices.Sorted(maps.Keys(f.Variants))
		if len(variants) == 0 {
			v.errorKey(fp+".variants", fp, "variants are required: a name and a value for each, e.g. {on: true, off: false}")
		}
		for _, vn := range v.d.order[fp+".variants"] {
			vp := fp + ".variants." + vn
			if !flagset.ValidName(vn) {
				v.errorKey(vp, vp, "invalid variant name %q: use letters, digits, _ . -", vn)
			}
			if slices.Contains(flagset.Types(), f.Type) {
				if err := flagset.CheckValue(f.Type, f.Variants[vn].JSON); err != nil {
					v.errorf(vp, "%v", err)
				}
			}
		}
		variant := func(path, got string) {
			if got != "" && len(variants) > 0 && f.Variants[got].JSON == nil {
				v.unknownName(path, path, "variant", got, variants)
			}
		}
		if f.Default == "" {
			v.errorKey(fp+".default", fp, "default is required: the variant served where nothing else decides")
		}
		variant(fp+".default", f.Default)
		for i, r := range f.Rules {
			rp := joinIndex(fp+".rules", i)
			if r.Variant == "" {
				v.errorKey(rp+".variant", rp, "variant is required")
			}
			variant(rp+".variant", r.Variant)
			if _, err := flagset.CompileRule(r.If); err != nil {
				v.errorAt(rp+".if", rp+".if", "invalid expression: %v", err)
			}
		}
		for _, env := range v.d.order[fp+".environments"] {
			ep := fp + ".environments." + env
			v.knownEnvironment(ep, env)
			fe := f.Environments[env]
			if fe == nil {
				continue
			}
			variant(ep+".default", fe.Default)
			if len(fe.Rollout) > 0 {
				var shares []flagset.Share
				for _, vn := range v.d.order[ep+".rollout"] {
					variant(ep+".rollout."+vn, vn)
					shares = append(shares, flagset.Share{Variant: vn, Percent: fe.Rollout[vn]})
				}
				if err := flagset.CheckShares(shares); err != nil {
					v.errorKey(ep+".rollout", ep+".rollout", "%v", err)
				}
			}
			if r := fe.Ramp; r != nil {
				rp := ep + ".ramp"
				if len(fe.Rollout) > 0 {
					v.errorKey(rp, rp, "a ramp and a rollout conflict: the ramp sets the rollout as it goes")
				}
				if r.Variant == "" && f.OnVariant() == "" {
					v.errorKey(rp+".variant", rp, "variant is required: the variant that ramps up (only a boolean flag's defaults to its true variant)")
				}
				variant(rp+".variant", r.Variant)
				if len(r.Steps) == 0 {
					v.errorKey(rp+".steps", rp, "steps are required, e.g. [{weight: 10, pause: 1h}, {weight: 100}]")
				}
				v.steps(rp+".steps", r.Steps)
				if v.has(rp+".max_error_rate") && (r.MaxErrorRate <= 0 || r.MaxErrorRate > 1) {
					v.errorf(rp+".max_error_rate", "must be above 0 and at most 1, got %g", r.MaxErrorRate)
				}
			}
		}
		if f.Env != "" {
			p := fp + ".env"
			switch {
			case !kit.ValidEnvName(f.Env):
				v.errorf(p, "invalid variable name %q: use letters, digits and _, not starting with a digit", f.Env)
			case envVars[f.Env] != "":
				v.errorf(p, "%s is already the variable of flag %s", f.Env, envVars[f.Env])
			default:
				envVars[f.Env] = name
			}
		}
		for i, s := range f.Services {
			if v.c.Services[s] == nil {
				v.unknownName(joinIndex(fp+".services", i), joinIndex(fp+".services", i), "service", s, v.c.ServiceOrder)
			}
		}
	}
}

// EnvValue is how a variant's value reads as an environment variable:
// a string as it is, anything else as JSON (true, 42, {"a":1}).
func EnvValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
