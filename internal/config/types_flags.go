package config

import "encoding/json"

// The `flags:` keys of tug.yaml: feature flags, evaluated by the proxy
// over OpenFeature's remote evaluation protocol (OFREP).

// Flag is one feature flag: its variants, which one each environment
// serves, and who gets another by rule or by percentage.
type Flag struct {
	// The type of every variant's value: boolean, string, number or object.
	// Required. Example: `type: boolean`.
	Type string `yaml:"type" json:"type"`
	// What the flag is for; sent as metadata with every evaluation.
	// Default: none. Example: `description: the new checkout page`.
	Description string `yaml:"description" json:"description,omitempty"`
	// The values the flag can take, by variant name (letters, digits, _ . -).
	// Required. Example: `variants: {on: true, off: false}`.
	Variants map[string]FlagValue `yaml:"variants" json:"variants"`
	// The variant served where nothing else decides, and by `tug flags kill`
	// unless the flag is boolean (then its false variant is). Required.
	// Example: `default: off`.
	Default string `yaml:"default" json:"default"`
	// Per environment: its own default variant, a percentage rollout, or a
	// rollout that ramps up over time. Default: the flag's default
	// everywhere. Example: `environments: {staging: {default: on},
	// production: {rollout: {on: 25, off: 75}}}`.
	Environments map[string]*FlagEnvironment `yaml:"environments" json:"environments,omitempty"`
	// Targeting rules, tried in order before any rollout: the first whose
	// expression (expr-lang, over ctx, the evaluation context) holds decides
	// the variant. Default: none. Example: `rules: [{if: 'ctx.plan == "pro"',
	// variant: on}]`.
	Rules []FlagRule `yaml:"rules" json:"rules,omitempty"`
	// Also inject the flag's value (for the environment, without context)
	// into the services as this environment variable; a change then rolls
	// each service with its deploy strategy, slower than an evaluation.
	// Default: none. Example: `env: FEATURE_NEW_CHECKOUT`.
	Env string `yaml:"env" json:"env,omitempty"`
	// The services that use the flag: they get its env variable, its ramps
	// watch their error rate, and its changes appear in their timelines.
	// Default: every service. Example: `services: [web]`.
	Services []string `yaml:"services" json:"services,omitempty"`
}

// FlagValue is a variant's value: a boolean, string, number or mapping,
// kept as JSON.
type FlagValue struct {
	JSON json.RawMessage `yaml:"-" json:"-"`
}

// MarshalJSON writes the value itself.
func (v FlagValue) MarshalJSON() ([]byte, error) {
	if len(v.JSON) == 0 {
		return []byte("null"), nil
	}
	return v.JSON, nil
}

// FlagEnvironment is how a flag behaves in one environment.
type FlagEnvironment struct {
	// The variant served here where no rule or rollout decides. Default:
	// the flag's default. Example: `default: on`.
	Default string `yaml:"default" json:"default,omitempty"`
	// Percentages by variant (summing to 100, two decimals at most) for whom
	// no rule matched, sticky by the context's targetingKey. Default: none.
	// Example: `rollout: {on: 25, off: 75}`.
	Rollout map[string]float64 `yaml:"rollout" json:"rollout,omitempty"`
	// A rollout that grows by steps over time and halts by itself when the
	// error rate of the flag's services rises, as a canary does. Default:
	// none. Example: `ramp: {variant: on, steps: [{weight: 10, pause: 1h},
	// {weight: 50, pause: 1h}, {weight: 100}], max_error_rate: 0.05}`.
	Ramp *FlagRamp `yaml:"ramp" json:"ramp,omitempty"`
}

// FlagRule serves a variant when its expression holds.
type FlagRule struct {
	// An expr-lang boolean over ctx, the evaluation context (targetingKey
	// and the attributes the app sends). Required. Example: `if: 'ctx.plan ==
	// "pro"'`.
	If string `yaml:"if" json:"if"`
	// The variant served when it holds. Required. Example: `variant: on`.
	Variant string `yaml:"variant" json:"variant"`
}

// FlagRamp moves a growing share of an environment to one variant.
type FlagRamp struct {
	// The variant that ramps up; the rest get the environment's default.
	// Default: the true variant of a boolean flag (required otherwise).
	// Example: `variant: on`.
	Variant string `yaml:"variant" json:"variant,omitempty"`
	// The shares, each held for its pause before the next; the ramp starts
	// when the config first holds it. Required. Example: `steps: [{weight:
	// 10, pause: 1h}, {weight: 50, pause: 1d}, {weight: 100}]`.
	Steps []CanaryStep `yaml:"steps" json:"steps"`
	// The highest share of 5xx answers (0 to 1) the flag's services may give
	// in the environment while the ramp runs; above it the ramp halts where
	// it is, and says so in the flag's history. Default: 0.05. Example:
	// `max_error_rate: 0.01`.
	MaxErrorRate float64 `yaml:"max_error_rate" json:"max_error_rate,omitempty"`
}

// OffVariant is the variant a killed flag serves: the false variant of a
// boolean flag, else the flag's default.
func (f *Flag) OffVariant() string {
	if f.Type == "boolean" {
		for name, v := range f.Variants {
			if string(v.JSON) == "false" {
				return name
			}
		}
	}
	return f.Default
}

// OnVariant is the true variant of a boolean flag ("" when it has none,
// or for other types): what a bare percentage rollout moves users to.
func (f *Flag) OnVariant() string {
	if f.Type == "boolean" {
		for name, v := range f.Variants {
			if string(v.JSON) == "true" {
				return name
			}
		}
	}
	return ""
}
