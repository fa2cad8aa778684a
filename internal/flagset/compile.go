package flagset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// ErrInvalid wraps every reason a set is refused; the message names the
// bad place ("environments.production.flags.checkout.rollout: ...").
var ErrInvalid = errors.New("invalid flag set")

// Buckets is how many buckets a targeting key hashes into: a rollout's
// percentages have two decimals.
const Buckets = 10000

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidName says whether s may name a flag or a variant: letters, digits,
// '_', '.', '-', not starting with a punctuation mark.
func ValidName(s string) bool { return len(s) <= 128 && namePattern.MatchString(s) }

// ruleEnv is what a rule's expression sees: ctx, the evaluation context
// (targetingKey and every attribute the caller sent).
type ruleEnv struct {
	Ctx map[string]any `expr:"ctx"`
}

// CompileRule compiles a targeting rule, an expr-lang boolean over ctx
// (`ctx.plan == "pro"`). The error says what is wrong and, when the
// compiler knows, at which column.
func CompileRule(src string) (prog *vm.Program, err error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression")
	}
	defer func() {
		// Third-party code fed user input: a panic is still just an
		// invalid expression.
		if r := recover(); r != nil {
			prog, err = nil, fmt.Errorf("%v", r)
		}
	}()
	prog, err = expr.Compile(src, expr.Env(ruleEnv{}), expr.AsBool())
	if err == nil {
		return prog, nil
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		return nil, fmt.Errorf("%s (at column %d)", fe.Message, fe.Column+1)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return nil, errors.New(first)
}

// CheckValue says why raw is not a value of type typ, or nil.
func CheckValue(typ string, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	ok := false
	switch typ {
	case TypeBoolean:
		_, ok = v.(bool)
	case TypeString:
		_, ok = v.(string)
	case TypeNumber:
		_, ok = v.(float64)
	case TypeObject:
		_, ok = v.(map[string]any)
	default:
		return fmt.Errorf("unknown flag type %q (want %s)", typ, strings.Join(Types(), ", "))
	}
	if !ok {
		return fmt.Errorf("%s is not a %s", bytes.TrimSpace(raw), typ)
	}
	return nil
}

// CheckShares says why shares do not make a rollout: a percentage out of
// 0..100 or with more than two decimals, or a sum other than 100.
func CheckShares(shares []Share) error {
	total := 0
	for _, s := range shares {
		bp, err := basisPoints(s.Percent)
		if err != nil {
			return fmt.Errorf("%s: %v", s.Variant, err)
		}
		total += bp
	}
	if total != Buckets {
		return fmt.Errorf("percentages sum to %s, want 100", trimFloat(float64(total)/100))
	}
	return nil
}

func basisPoints(p float64) (int, error) {
	if math.IsNaN(p) || p < 0 || p > 100 {
		return 0, fmt.Errorf("%s%% is not between 0 and 100", trimFloat(p))
	}
	bp := math.Round(p * 100)
	if math.Abs(bp-p*100) > 1e-6 {
		return 0, fmt.Errorf("%s%% has more than two decimals", trimFloat(p))
	}
	return int(bp), nil
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", f), ".0") }

// Evaluator is a compiled Set: immutable, safe for concurrent use.
type Evaluator struct {
	envs map[string]*EnvEvaluator
}

// EnvEvaluator evaluates one environment's flags.
type EnvEvaluator struct {
	name  string
	flags map[string]*compiled
	order []*compiled // by key, for bulk answers
	keys  map[[sha256.Size]byte]string
	etag  string
}

type compiled struct {
	key      string
	index    int
	typ      string
	names    []string
	values   []json.RawMessage // compact
	def, off int
	disabled bool
	rules    []compiledRule
	// upper[i] is the exclusive upper bucket of share i's variant
	// shareVariant[i].
	upper        []int
	shareVariant []int
	metadata     json.RawMessage // compact object, or nil
}

type compiledRule struct {
	prog    *vm.Program
	variant int
}

// Compile checks s and builds its evaluator; the error wraps ErrInvalid
// and names the first bad place.
func Compile(s *Set) (*Evaluator, error) {
	ev := &Evaluator{envs: map[string]*EnvEvaluator{}}
	if s == nil {
		return ev, nil
	}
	for _, name := range sortedKeys(s.Environments) {
		e := s.Environments[name]
		at := "environments." + name
		if e == nil {
			return nil, fmt.Errorf("%w: %s: null environment", ErrInvalid, at)
		}
		ce := &EnvEvaluator{name: name, flags: map[string]*compiled{}, keys: map[[sha256.Size]byte]string{}}
		for h, svc := range e.Keys {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != sha256.Size {
				return nil, fmt.Errorf("%w: %s.keys: %q is not a SHA-256 in hex", ErrInvalid, at, h)
			}
			ce.keys[[sha256.Size]byte(b)] = svc
		}
		for _, key := range sortedKeys(e.Flags) {
			cf, err := compileFlag(key, e.Flags[key])
			if err != nil {
				return nil, fmt.Errorf("%w: %s.flags.%s%v", ErrInvalid, at, key, err)
			}
			cf.index = len(ce.order)
			ce.flags[key] = cf
			ce.order = append(ce.order, cf)
		}
		sum, _ := json.Marshal(e.Flags)
		h := sha256.Sum256(sum)
		ce.etag = `"` + hex.EncodeToString(h[:12]) + `"`
		ev.envs[name] = ce
	}
	return ev, nil
}

// compileFlag builds one flag; its errors start with the sub-path (".rules[0].if: ...").
func compileFlag(key string, f *Flag) (*compiled, error) {
	if !ValidName(key) {
		return nil, fmt.Errorf(": %q is not a flag name (letters, digits, _ . -)", key)
	}
	if f == nil {
		return nil, errors.New(": null flag")
	}
	if !slices.Contains(Types(), f.Type) {
		return nil, fmt.Errorf(".type: unknown type %q (want %s)", f.Type, strings.Join(Types(), ", "))
	}
	if len(f.Variants) == 0 {
		return nil, errors.New(".variants: a flag needs at least one variant")
	}
	c := &compiled{key: key, typ: f.Type, disabled: f.Disabled}
	idx := map[string]int{}
	for _, name := range sortedKeys(f.Variants) {
		raw := f.Variants[name]
		if !ValidName(name) {
			return nil, fmt.Errorf(".variants: %q is not a variant name (letters, digits, _ . -)", name)
		}
		if err := CheckValue(f.Type, raw); err != nil {
			return nil, fmt.Errorf(".variants.%s: %v", name, err)
		}
		var buf bytes.Buffer
		json.Compact(&buf, raw)
		idx[name] = len(c.names)
		c.names = append(c.names, name)
		c.values = append(c.values, buf.Bytes())
	}
	variant := func(path, name string) (int, error) {
		i, ok := idx[name]
		if !ok {
			return 0, fmt.Errorf("%s: unknown variant %q (variants: %s)", path, name, strings.Join(c.names, ", "))
		}
		return i, nil
	}
	var err error
	if c.def, err = variant(".default", f.Default); err != nil {
		return nil, err
	}
	c.off = c.def
	if f.Off != "" {
		if c.off, err = variant(".off", f.Off); err != nil {
			return nil, err
		}
	}
	for i, r := range f.Rules {
		at := fmt.Sprintf(".rules[%d]", i)
		v, err := variant(at+".variant", r.Variant)
		if err != nil {
			return nil, err
		}
		prog, err := CompileRule(r.If)
		if err != nil {
			return nil, fmt.Errorf("%s.if: %v", at, err)
		}
		c.rules = append(c.rules, compiledRule{prog: prog, variant: v})
	}
	if len(f.Rollout) > 0 {
		if err := CheckShares(f.Rollout); err != nil {
			return nil, fmt.Errorf(".rollout: %v", err)
		}
		upper := 0
		for i, s := range f.Rollout {
			v, err := variant(fmt.Sprintf(".rollout[%d].variant", i), s.Variant)
			if err != nil {
				return nil, err
			}
			bp, _ := basisPoints(s.Percent)
			upper += bp
			c.upper = append(c.upper, upper)
			c.shareVariant = append(c.shareVariant, v)
		}
	}
	if len(f.Metadata) > 0 {
		for k, v := range f.Metadata {
			switch v.(type) {
			case string, bool, float64, int, int64:
			default:
				return nil, fmt.Errorf(".metadata.%s: want a string, number or boolean", k)
			}
		}
		c.metadata, _ = json.Marshal(f.Metadata)
	}
	return c, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Env returns the evaluator of one environment, nil when it has none.
func (ev *Evaluator) Env(name string) *EnvEvaluator {
	if ev == nil {
		return nil
	}
	return ev.envs[name]
}

// Envs lists the environments, sorted.
func (ev *Evaluator) Envs() []string {
	if ev == nil {
		return nil
	}
	return sortedKeys(ev.envs)
}

// Name is the environment's name.
func (e *EnvEvaluator) Name() string { return e.name }

// ETag identifies the environment's flags as they are now (quoted, as
// the ETag header carries it): equal ETags, equal answers for equal
// contexts.
func (e *EnvEvaluator) ETag() string { return e.etag }

// Len is how many flags the environment has.
func (e *EnvEvaluator) Len() int { return len(e.order) }

// Flag describes the flag at index i (0..Len()-1, by key): its key and
// its variants' names.
func (e *EnvEvaluator) Flag(i int) (key string, variants []string) {
	f := e.order[i]
	return f.key, f.names
}

// Client returns the service a client key belongs to, given the key's
// SHA-256; ok is false for a key this environment does not know.
func (e *EnvEvaluator) Client(sum [sha256.Size]byte) (service string, ok bool) {
	service, ok = e.keys[sum]
	return service, ok
}
