package flagset

import (
	"encoding/json"
	"sync"

	"github.com/expr-lang/expr/vm"
)

// Error codes of OpenFeature (and OFREP's answers).
const (
	ErrFlagNotFound        = "FLAG_NOT_FOUND"
	ErrTargetingKeyMissing = "TARGETING_KEY_MISSING"
	ErrTypeMismatch        = "TYPE_MISMATCH"
	ErrParse               = "PARSE_ERROR"
	ErrInvalidContext      = "INVALID_CONTEXT"
	ErrGeneral             = "GENERAL"
)

// Reasons of a successful evaluation, as OFREP names them.
const (
	ReasonStatic         = "STATIC"
	ReasonTargetingMatch = "TARGETING_MATCH"
	ReasonSplit          = "SPLIT"
	ReasonDisabled       = "DISABLED"
)

// TargetingKeyAttr is the context attribute rollouts bucket by.
const TargetingKeyAttr = "targetingKey"

// Result is one flag's evaluation. On success Variant is the variant's
// index (see EnvEvaluator.Flag) and Reason is set; on failure ErrorCode
// and ErrorDetails are, and Variant is -1.
type Result struct {
	Key          string
	Flag         int // the flag's index, -1 when not found
	Variant      int
	Reason       string
	ErrorCode    string
	ErrorDetails string
	f            *compiled
}

// VariantName is the name of the variant served ("" on failure).
func (r *Result) VariantName() string {
	if r.f == nil || r.Variant < 0 {
		return ""
	}
	return r.f.names[r.Variant]
}

// Value is the JSON value served (nil on failure).
func (r *Result) Value() json.RawMessage {
	if r.f == nil || r.Variant < 0 {
		return nil
	}
	return r.f.values[r.Variant]
}

// Metadata is the flag's metadata as a JSON object (nil when none).
func (r *Result) Metadata() json.RawMessage {
	if r.f == nil {
		return nil
	}
	return r.f.metadata
}

// vms reuses expression VMs: a VM's stack survives between runs, so a
// rule costs no allocation.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// ContextError says why an evaluation context cannot be used at all
// (INVALID_CONTEXT); nil when it can. Only the targeting key has a shape
// the protocol fixes: a string when present.
func ContextError(ctx map[string]any) string {
	if v, ok := ctx[TargetingKeyAttr]; ok {
		if _, isStr := v.(string); !isStr {
			return "targetingKey must be a string"
		}
	}
	return ""
}

// Evaluate evaluates the flag key for ctx (the evaluation context; its
// targetingKey, when present, must be a string: see ContextError).
func (e *EnvEvaluator) Evaluate(key string, ctx map[string]any) Result {
	f := e.flags[key]
	if f == nil {
		return Result{Key: key, Flag: -1, Variant: -1, ErrorCode: ErrFlagNotFound, ErrorDetails: "flag '" + key + "' was not found in environment " + e.name}
	}
	return f.evaluate(ctx)
}

// EvaluateAll evaluates every flag for ctx, by key, into out (reused).
func (e *EnvEvaluator) EvaluateAll(ctx map[string]any, out []Result) []Result {
	out = out[:0]
	for _, f := range e.order {
		out = append(out, f.evaluate(ctx))
	}
	return out
}

func (f *compiled) evaluate(ctx map[string]any) Result {
	r := Result{Key: f.key, Flag: f.index, Variant: -1, f: f}
	if f.disabled {
		r.Variant, r.Reason = f.off, ReasonDisabled
		return r
	}
	if len(f.rules) > 0 {
		m := vms.Get().(*vm.VM)
		env := ruleEnv{Ctx: ctx}
		for _, rule := range f.rules {
			out, err := m.Run(rule.prog, env)
			if err != nil {
				vms.Put(m)
				r.ErrorCode, r.ErrorDetails = ErrInvalidContext, "the context does not fit a targeting rule of flag '"+f.key+"': "+err.Error()
				return r
			}
			if yes, _ := out.(bool); yes {
				vms.Put(m)
				r.Variant, r.Reason = rule.variant, ReasonTargetingMatch
				return r
			}
		}
		vms.Put(m)
	}
	if len(f.upper) > 0 {
		tk, _ := ctx[TargetingKeyAttr].(string)
		if tk == "" {
			r.ErrorCode, r.ErrorDetails = ErrTargetingKeyMissing, "flag '"+f.key+"' is rolled out by percentage and needs a targetingKey in the context"
			return r
		}
		b := Bucket(f.key, tk)
		for i, u := range f.upper {
			if b < u {
				r.Variant, r.Reason = f.shareVariant[i], ReasonSplit
				return r
			}
		}
	}
	r.Variant, r.Reason = f.def, ReasonStatic
	return r
}

// Bucket is where targetingKey falls for flag, 0 to Buckets-1: FNV-1a
// (64 bit) over the flag's key, a NUL byte and the targeting key, mixed
// by MurmurHash3's 64-bit finalizer, modulo Buckets. A rollout gives its
// shares consecutive bucket ranges in order, so a key keeps its variant
// while that variant's share grows (when it is the first or last share),
// and different flags split the same keys independently.
func Bucket(flag, targetingKey string) int {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(flag); i++ {
		h ^= uint64(flag[i])
		h *= prime
	}
	h *= prime // the NUL separator: h ^= 0
	for i := 0; i < len(targetingKey); i++ {
		h ^= uint64(targetingKey[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return int(h % Buckets)
}
