package flagset

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/flagset/wire"
)

func boolFlag(rollout ...Share) *Flag {
	return &Flag{
		Type:     TypeBoolean,
		Variants: map[string]json.RawMessage{"on": json.RawMessage("true"), "off": json.RawMessage("false")},
		Default:  "off",
		Rollout:  rollout,
	}
}

func compileEnv(t testing.TB, flags map[string]*Flag) *EnvEvaluator {
	t.Helper()
	ev, err := Compile(&Set{Environments: map[string]*Env{"production": {Flags: flags}}})
	if err != nil {
		t.Fatal(err)
	}
	return ev.Env("production")
}

func ctxOf(tk string) map[string]any { return map[string]any{TargetingKeyAttr: tk} }

// TestRolloutLandsAndSticks: a 25% rollout over 100,000 targeting keys
// lands within ±1%, and raised to 50% nobody who had the variant loses it.
func TestRolloutLandsAndSticks(t *testing.T) {
	t.Parallel()
	const n = 100000
	at25 := compileEnv(t, map[string]*Flag{"new-checkout": boolFlag(Share{"off", 75}, Share{"on", 25})})
	at50 := compileEnv(t, map[string]*Flag{"new-checkout": boolFlag(Share{"off", 50}, Share{"on", 50})})
	had := make([]bool, n)
	on25, on50 := 0, 0
	for i := range n {
		ctx := ctxOf("user-" + strconv.Itoa(i))
		r := at25.Evaluate("new-checkout", ctx)
		if r.ErrorCode != "" || r.Reason != ReasonSplit {
			t.Fatalf("evaluation: %+v", r)
		}
		if r.VariantName() == "on" {
			had[i] = true
			on25++
		}
		r = at50.Evaluate("new-checkout", ctx)
		if r.VariantName() == "on" {
			on50++
		} else if had[i] {
			t.Fatalf("user-%d had the variant at 25%% and lost it at 50%%", i)
		}
	}
	for _, c := range []struct {
		got  int
		want float64
	}{{on25, 0.25}, {on50, 0.50}} {
		if share := float64(c.got) / n; share < c.want-0.01 || share > c.want+0.01 {
			t.Errorf("share %.4f, want %.2f ± 0.01", share, c.want)
		}
	}
}

func TestEvaluationOrder(t *testing.T) {
	t.Parallel()
	f := boolFlag(Share{"off", 50}, Share{"on", 50})
	f.Rules = []Rule{{If: `ctx.plan == "pro"`, Variant: "on"}, {If: `ctx.age > 65`, Variant: "off"}}
	e := compileEnv(t, map[string]*Flag{"f": f, "static": boolFlag()})
	cases := []struct {
		name    string
		ctx     map[string]any
		variant string
		reason  string
		code    string
	}{
		{"rule", map[string]any{"plan": "pro"}, "on", ReasonTargetingMatch, ""},
		{"second rule", map[string]any{"age": 70.0, "targetingKey": "u"}, "off", ReasonTargetingMatch, ""},
		{"split", map[string]any{"targetingKey": "u1", "age": 1.0}, "", ReasonSplit, ""},
		{"no key", map[string]any{"age": 1.0}, "", "", ErrTargetingKeyMissing},
		{"wrong shape", map[string]any{"age": "old"}, "", "", ErrInvalidContext},
	}
	for _, c := range cases {
		r := e.Evaluate("f", c.ctx)
		if r.ErrorCode != c.code || r.Reason != c.reason || (c.variant != "" && r.VariantName() != c.variant) {
			t.Errorf("%s: got %+v (%s)", c.name, r, r.VariantName())
		}
	}
	if r := e.Evaluate("static", map[string]any{}); r.Reason != ReasonStatic || string(r.Value()) != "false" {
		t.Errorf("static: %+v", r)
	}
	if r := e.Evaluate("nope", nil); r.ErrorCode != ErrFlagNotFound {
		t.Errorf("unknown flag: %+v", r)
	}
}

func TestKillServesOff(t *testing.T) {
	t.Parallel()
	f := boolFlag()
	f.Default = "on"
	f.Rules = []Rule{{If: `true`, Variant: "on"}}
	f.Disabled, f.Off = true, "off"
	e := compileEnv(t, map[string]*Flag{"f": f})
	if r := e.Evaluate("f", nil); r.VariantName() != "off" || r.Reason != ReasonDisabled {
		t.Errorf("killed flag: %+v", r)
	}
}

func TestCompileRefusesWithPlace(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		f    *Flag
		want string
	}{
		"rollout sum":     {boolFlag(Share{"on", 30}, Share{"off", 60}), "flags.f.rollout: percentages sum to 90, want 100"},
		"unknown variant": {&Flag{Type: TypeBoolean, Variants: map[string]json.RawMessage{"on": []byte("true")}, Default: "of"}, `flags.f.default: unknown variant "of"`},
		"bad rule":        {&Flag{Type: TypeBoolean, Variants: map[string]json.RawMessage{"on": []byte("true")}, Default: "on", Rules: []Rule{{If: "ctx.plan ==", Variant: "on"}}}, "flags.f.rules[0].if:"},
		"value type":      {&Flag{Type: TypeString, Variants: map[string]json.RawMessage{"a": []byte("1")}, Default: "a"}, "flags.f.variants.a: 1 is not a string"},
		"decimals":        {boolFlag(Share{"on", 33.333}, Share{"off", 66.667}), "more than two decimals"},
	}
	for name, c := range cases {
		_, err := Compile(&Set{Environments: map[string]*Env{"e": {Flags: map[string]*Flag{"f": c.f}}}})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func TestETagFollowsTheFlags(t *testing.T) {
	t.Parallel()
	a := compileEnv(t, map[string]*Flag{"f": boolFlag()})
	b := compileEnv(t, map[string]*Flag{"f": boolFlag()})
	killed := boolFlag()
	killed.Disabled = true
	c := compileEnv(t, map[string]*Flag{"f": killed})
	if a.ETag() != b.ETag() || a.ETag() == c.ETag() || !strings.HasPrefix(a.ETag(), `"`) {
		t.Errorf("etags %s %s %s", a.ETag(), b.ETag(), c.ETag())
	}
}

func TestParseRequest(t *testing.T) {
	t.Parallel()
	cases := []struct{ body, code string }{
		{`{"context":{"targetingKey":"u"}}`, ""},
		{`{"context":{}}`, ""},
		{`{"context":`, ErrParse},
		{`[1]`, ErrParse},
		{`{}`, ErrInvalidContext},
		{`{"context":[1]}`, ErrInvalidContext},
		{`{"context":{"targetingKey":5}}`, ErrInvalidContext},
	}
	for _, c := range cases {
		if _, code, _ := ParseRequest([]byte(c.body)); code != c.code {
			t.Errorf("%s: code %q, want %q", c.body, code, c.code)
		}
	}
}

func TestAnswersAreJSON(t *testing.T) {
	t.Parallel()
	f := boolFlag()
	f.Metadata = map[string]any{"owner": "team \"a\""}
	e := compileEnv(t, map[string]*Flag{"f": f})
	res := e.EvaluateAll(map[string]any{}, nil)
	res = append(res, e.Evaluate("no\"pe", nil))
	var got wire.Bulk
	if err := json.Unmarshal(AppendBulk(nil, "production", e.ETag(), res), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Flags) != 2 || got.Flags[0].Variant != "off" || string(got.Flags[0].Value) != "false" ||
		got.Flags[0].Metadata["owner"] != `team "a"` || got.Flags[1].Key != `no"pe` || got.Flags[1].ErrorCode != ErrFlagNotFound {
		t.Errorf("bulk answer: %+v", got)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	f := boolFlag(Share{"off", 75}, Share{"on", 25})
	f.Rules = []Rule{{If: `ctx.plan == "pro"`, Variant: "on"}}
	e := compileEnv(b, map[string]*Flag{"new-checkout": f})
	ctx := map[string]any{"targetingKey": "user-123", "plan": "free"}
	b.ReportAllocs()
	for b.Loop() {
		r := e.Evaluate("new-checkout", ctx)
		if r.Reason != ReasonSplit {
			b.Fatal(r)
		}
	}
}

// BenchmarkEvaluateAll50 is a bulk evaluation of 50 flags and its OFREP
// answer, in-process: the proxy's share of a bulk request.
func BenchmarkEvaluateAll50(b *testing.B) {
	flags := map[string]*Flag{}
	for i := range 50 {
		f := boolFlag(Share{"off", 75}, Share{"on", 25})
		f.Rules = []Rule{{If: `ctx.plan == "enterprise"`, Variant: "on"}}
		flags["flag-"+strconv.Itoa(i)] = f
	}
	e := compileEnv(b, flags)
	ctx := map[string]any{"targetingKey": "user-123", "plan": "free"}
	var res []Result
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		res = e.EvaluateAll(ctx, res)
		buf = AppendBulk(buf[:0], "production", e.ETag(), res)
	}
}
