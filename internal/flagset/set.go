// Package flagset is a feature-flag set as the data plane evaluates it:
// each environment's flags resolved (tug.yaml with run-time overrides
// applied), their variants, targeting rules, sticky percentage rollouts,
// the clients allowed to evaluate them, and the answers of OpenFeature's
// remote evaluation protocol (OFREP). It imports nothing of tug's, so the
// config checks rules with the same compiler the proxy runs them with.
package flagset

import "encoding/json"

// Flag types.
const (
	TypeBoolean = "boolean"
	TypeString  = "string"
	TypeNumber  = "number"
	TypeObject  = "object"
)

// Types lists the flag types in the order the docs give them.
func Types() []string { return []string{TypeBoolean, TypeString, TypeNumber, TypeObject} }

// Set is every environment's flags; it travels inside the proxy's routing
// table, so evaluation goes on while the server is down.
type Set struct {
	Environments map[string]*Env `json:"environments"`
}

// Env is the flags of one environment and the clients that may evaluate
// them.
type Env struct {
	Flags map[string]*Flag `json:"flags"`
	// Keys maps the SHA-256 (lower-case hex) of each client key allowed
	// here to the service it was given to. The keys themselves never
	// travel: a table file shows none.
	Keys map[string]string `json:"keys,omitempty"`
}

// Flag is one resolved flag. Evaluation order: Disabled serves Off;
// else the first rule whose expression holds; else Rollout splits by the
// targeting key; else Default.
type Flag struct {
	Type string `json:"type"`
	// Variants maps each variant's name to its JSON value.
	Variants map[string]json.RawMessage `json:"variants"`
	Default  string                     `json:"default"`
	Rules    []Rule                     `json:"rules,omitempty"`
	// Rollout shares out whoever no rule matched; the percentages sum
	// to 100. Buckets are laid out in this order (see Bucket).
	Rollout []Share `json:"rollout,omitempty"`
	// Disabled is a kill switch: everyone gets Off (Default when empty).
	Disabled bool   `json:"disabled,omitempty"`
	Off      string `json:"off,omitempty"`
	// Metadata is passed on in every answer (strings, numbers, booleans).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Rule serves Variant when If, an expr-lang boolean over ctx (the
// evaluation context), holds.
type Rule struct {
	If      string `json:"if"`
	Variant string `json:"variant"`
}

// Share is one variant's percentage of a rollout (0 to 100, two decimals
// at most).
type Share struct {
	Variant string  `json:"variant"`
	Percent float64 `json:"percent"`
}
