package flags

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

const flagsYAML = `version: 1
services:
  web: {run: ./web}
  api: {run: ./api}
environments:
  staging: {}
  production: {}
flags:
  new-checkout:
    type: boolean
    variants: {on: true, off: false}
    default: off
    environments:
      staging: {default: on}
      production: {rollout: {on: 25, off: 75}}
    rules:
      - {if: 'ctx.plan == "pro"', variant: on}
    env: FEATURE_NEW_CHECKOUT
    services: [web]
  theme:
    type: string
    variants: {light: light, dark: dark}
    default: light
    environments:
      production:
        ramp: {variant: dark, steps: [{weight: 10, pause: 1h}, {weight: 50, pause: 1h}, {weight: 100}], max_error_rate: 0.1}
`

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse("tug.yaml", []byte(src), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type pushes struct {
	mu   sync.Mutex
	n    int
	fail int // the next this many pushes fail
}

func (p *pushes) PushFlags(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail > 0 {
		p.fail--
		return errors.New("proxy control socket unreachable")
	}
	p.n++
	return nil
}

func (p *pushes) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

type rolls struct {
	mu   sync.Mutex
	done []string
}

func (r *rolls) Roll(_ context.Context, service, env, who, reason string) error {
	r.mu.Lock()
	r.done = append(r.done, service+"/"+env)
	r.mu.Unlock()
	return nil
}

func (r *rolls) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.done...)
}

type harness struct {
	m     *Manager
	st    *store.Store
	push  *pushes
	roll  *rolls
	clock *testkit.Clock
	rate  *float64
	dir   string
	audit *audited
}

// audited keeps the audit records the manager writes.
type audited struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *audited) Record(_ context.Context, r audit.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return nil
}

func (a *audited) got() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.recs)
}

func newHarness(t *testing.T, dir string, src string) *harness {
	t.Helper()
	st, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{st: st, push: &pushes{}, roll: &rolls{}, audit: &audited{}, clock: testkit.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), rate: new(float64), dir: dir}
	m, err := New(context.Background(), Options{
		Store: st, Push: h.push, Roll: h.roll, StateDir: dir, ProxyAddr: "0.0.0.0:8080", Now: h.clock.Now, RampEvery: time.Hour, Audit: h.audit,
		FlagsURL: func(addr, env string) string { return "http://" + addr + "/_tug/flags/" + env },
		Query: func(_ context.Context, expr string) (float64, error) {
			if strings.Contains(expr, "tug_proxy_requests_total") {
				return *h.rate, nil
			}
			return math.NaN(), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if err := m.SetConfig(context.Background(), parse(t, src)); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	return h
}

func evaluate(t *testing.T, m *Manager, env, flag string, ctx map[string]any) flagset.Result {
	t.Helper()
	ev, err := flagset.Compile(m.FlagSet())
	if err != nil {
		t.Fatal(err)
	}
	return ev.Env(env).Evaluate(flag, ctx)
}

// TestResolveFromConfig: every environment gets its flags as tug.yaml
// says, and the client keys of every service, as hashes only.
func TestResolveFromConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), flagsYAML)
	if r := evaluate(t, h.m, "staging", "new-checkout", nil); r.VariantName() != "on" {
		t.Errorf("staging: %+v", r)
	}
	if r := evaluate(t, h.m, "production", "new-checkout", map[string]any{"targetingKey": "u1"}); r.Reason != flagset.ReasonSplit {
		t.Errorf("production: %+v", r)
	}
	if r := evaluate(t, h.m, "production", "new-checkout", map[string]any{"plan": "pro"}); r.VariantName() != "on" || r.Reason != flagset.ReasonTargetingMatch {
		t.Errorf("production, pro: %+v", r)
	}
	vars, key := h.m.InstanceEnv("web", "production", false)
	if vars["FEATURE_NEW_CHECKOUT"] != "false" || vars["TUG_FLAGS_URL"] != "http://0.0.0.0:8080/_tug/flags/production" {
		t.Errorf("web's variables: %v", vars)
	}
	// A container reaches the proxy at the Docker bridge's gateway.
	if v, _ := h.m.InstanceEnv("web", "production", true); v["TUG_FLAGS_URL"] != "http://0.0.0.0:8080/_tug/flags/production" {
		t.Errorf("a container without a container address: %v", v)
	}
	h.m.opts.ContainerProxyAddr = "172.17.0.1:8080"
	if v, _ := h.m.InstanceEnv("web", "production", true); v["TUG_FLAGS_URL"] != "http://172.17.0.1:8080/_tug/flags/production" {
		t.Errorf("a container's variables: %v", v)
	}
	if v, _ := h.m.InstanceEnv("web", "production", false); v["TUG_FLAGS_URL"] != "http://0.0.0.0:8080/_tug/flags/production" {
		t.Errorf("a process's variables with a container address: %v", v)
	}
	if v, _ := h.m.InstanceEnv("api", "production", false); v["FEATURE_NEW_CHECKOUT"] != "" {
		t.Errorf("api does not use the flag: %v", v)
	}
	table, _ := json.Marshal(h.m.FlagSet())
	if strings.Contains(string(table), key.Reveal()) || !strings.Contains(string(table), hash(key)) {
		t.Errorf("the flag set must carry the key's hash, not the key")
	}
	if key.String() != "<secret>" || !strings.HasPrefix(key.Reveal(), "tugf_") {
		t.Errorf("key %v", key)
	}
	if v, k := newHarness(t, t.TempDir(), "version: 1\nservices: {web: {run: ./web}}\n").m.InstanceEnv("web", "default", false); v != nil || k.Reveal() != "" {
		t.Errorf("without flags an instance gets %v and a key", v)
	}
	// The same key after a restart (same state directory); another service's differs.
	h2 := newHarness(t, h.dir, flagsYAML)
	if _, k2 := h2.m.InstanceEnv("web", "production", false); k2.Reveal() != key.Reveal() {
		t.Error("the client key changed across a restart")
	}
	if _, k3 := h2.m.InstanceEnv("web", "staging", false); k3.Reveal() == key.Reveal() {
		t.Error("staging and production share a key")
	}
}

// TestOverridesAreAuditedAndKept: set, kill and reset are pushed at once,
// recorded with who, before and after, kept across a restart, shown as
// overrides, and a changed env variable rolls the service.
func TestOverridesAreAuditedAndKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, t.TempDir(), flagsYAML)
	pushed := h.push.count()
	fifty := 50.0
	states, err := h.m.Set(ctx, "new-checkout", SetRequest{Environment: "production", Rollout: &fifty, Who: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0].Serves != "off 50% · on 50% (+1 rule)" || states[0].Desired != "off 75% · on 25% (+1 rule)" || states[0].Override == nil {
		t.Errorf("after set: %+v", states)
	}
	if h.push.count() != pushed+1 {
		t.Errorf("pushes %d, want %d", h.push.count(), pushed+1)
	}
	if _, err := h.m.Kill(ctx, "new-checkout", "", "bob"); err != nil {
		t.Fatal(err)
	}
	if r := evaluate(t, h.m, "staging", "new-checkout", map[string]any{"plan": "pro"}); r.VariantName() != "off" || r.Reason != flagset.ReasonDisabled {
		t.Errorf("killed in staging: %+v", r)
	}
	testkit.Eventually(t, 5*time.Second, "the kill to roll web in staging", func() bool { return len(h.roll.list()) == 1 })
	if got := h.roll.list(); got[0] != "web/staging" {
		t.Errorf("rolled %v, want web/staging (production's variable was off already)", got)
	}
	// A restart keeps the kill.
	h2 := newHarness(t, h.dir, flagsYAML)
	if r := evaluate(t, h2.m, "production", "new-checkout", nil); r.Reason != flagset.ReasonDisabled {
		t.Errorf("after a restart: %+v", r)
	}
	if _, err := h2.m.Reset(ctx, "new-checkout", "production", "cy"); err != nil {
		t.Fatal(err)
	}
	list, _ := h2.m.List("production")
	if list[0].Override != nil || list[0].Serves != list[0].Desired {
		t.Errorf("after reset: %+v", list[0])
	}
	changes, err := h2.m.History(ctx, store.FlagChangeQuery{Service: "web", Environment: "production", Flag: "new-checkout"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.Kind+":"+c.Who)
	}
	if strings.Join(kinds, " ") != "set:ann kill:bob reset:cy" {
		t.Errorf("history %v", kinds)
	}
	if !strings.Contains(changes[1].Before, `"serves":"off 50% · on 50% (+1 rule)"`) || !strings.Contains(changes[1].After, `"serves":"killed: off"`) {
		t.Errorf("kill's before/after: %s → %s", changes[1].Before, changes[1].After)
	}
}

// TestChangeReachesAProxyThatWasAway: a change made while the proxy does
// not answer is kept and pushed again until the proxy takes it.
func TestChangeReachesAProxyThatWasAway(t *testing.T) {
	t.Parallel()
	h := newHarness(t, t.TempDir(), flagsYAML)
	taken := h.push.count()
	h.push.mu.Lock()
	h.push.fail = 3
	h.push.mu.Unlock()
	if _, err := h.m.Kill(context.Background(), "new-checkout", "production", "ann"); err == nil {
		t.Fatal("a push the proxy refused reported no error")
	}
	if r := evaluate(t, h.m, "production", "new-checkout", nil); r.Reason != flagset.ReasonDisabled {
		t.Fatalf("the kill is not in force: %+v", r)
	}
	testkit.Eventually(t, 5*time.Second, "the kill to be pushed again", func() bool { return h.push.count() > taken })
}

func TestBadChangesChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, t.TempDir(), flagsYAML)
	before := h.push.count()
	p := 20.5
	over := 120.0
	for _, c := range []struct {
		name string
		req  SetRequest
		flag string
		want error
	}{
		{"unknown flag", SetRequest{Environment: "production", Variant: "on"}, "new-chekout", ErrUnknownFlag},
		{"unknown variant", SetRequest{Environment: "production", Variant: "onn"}, "new-checkout", ErrInvalid},
		{"unknown env", SetRequest{Environment: "prod", Variant: "on"}, "new-checkout", ErrInvalid},
		{"no env", SetRequest{Variant: "on"}, "new-checkout", ErrInvalid},
		{"percentage", SetRequest{Environment: "production", Rollout: &over}, "new-checkout", ErrInvalid},
		{"not boolean", SetRequest{Environment: "production", Rollout: &p}, "theme", ErrInvalid},
	} {
		if _, err := h.m.Set(ctx, c.flag, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if h.push.count() != before {
		t.Error("a refused change was pushed")
	}
	if ch, _ := h.m.History(ctx, store.FlagChangeQuery{Flag: "new-checkout"}); len(ch) != 0 {
		t.Errorf("a refused change was recorded: %+v", ch)
	}
}

// TestRampStepsAndHalts: a ramp starts at its first step, steps when its
// pause is over, and halts by itself when the error rate rises.
func TestRampStepsAndHalts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, t.TempDir(), flagsYAML)
	share := func() string {
		l, _ := h.m.List("production")
		for _, s := range l {
			if s.Flag == "theme" {
				return s.Serves
			}
		}
		return ""
	}
	if got := share(); got != "dark 10% · light 90%" {
		t.Fatalf("ramp at start: %s", got)
	}
	h.clock.Advance(30 * time.Minute)
	h.m.ramp(ctx)
	if got := share(); got != "dark 10% · light 90%" {
		t.Fatalf("ramp before its pause is over: %s", got)
	}
	h.clock.Advance(31 * time.Minute)
	h.m.ramp(ctx)
	if got := share(); got != "dark 50% · light 50%" {
		t.Fatalf("ramp after its pause: %s", got)
	}
	*h.rate = 0.3
	h.clock.Advance(2 * time.Hour)
	h.m.ramp(ctx)
	if got := share(); got != "dark 50% · light 50%" {
		t.Fatalf("ramp with errors: %s, want it halted at 50%%", got)
	}
	l, _ := h.m.List("production")
	var ramp *RampInfo
	for _, s := range l {
		if s.Flag == "theme" {
			ramp = s.Ramp
		}
	}
	if ramp == nil || !ramp.Halted || !strings.Contains(ramp.Reason, "error rate of api, web is 0.3000, above 0.1") {
		t.Fatalf("ramp %+v", ramp)
	}
	*h.rate = 0
	h.clock.Advance(2 * time.Hour)
	h.m.ramp(ctx)
	if got := share(); got != "dark 50% · light 50%" {
		t.Fatalf("a halted ramp went on: %s", got)
	}
	changes, _ := h.m.History(ctx, store.FlagChangeQuery{Flag: "theme", Service: "web"})
	var kinds []string
	for _, c := range changes {
		kinds = append(kinds, c.Kind)
	}
	if strings.Join(kinds, " ") != "ramp ramp halt" {
		t.Errorf("ramp history %v", kinds)
	}
	// Each step and the halt, made without an API call, are tug's own
	// records in the audit log.
	var recs []string
	for _, r := range h.audit.got() {
		recs = append(recs, r.Actor+" "+r.Action+" "+r.Target+" "+r.Outcome)
	}
	if want := []string{"tug flag.ramp theme/production ok", "tug flag.ramp theme/production ok", "tug flag.halt theme/production ok"}; !slices.Equal(recs, want) {
		t.Errorf("audit records %v, want %v", recs, want)
	}
	// Reset starts it over.
	if _, err := h.m.Reset(ctx, "theme", "production", "ann"); err != nil {
		t.Fatal(err)
	}
	if got := share(); got != "dark 10% · light 90%" {
		t.Fatalf("after reset: %s", got)
	}
}

// TestWelch checks Welch's test against known values: the two samples
// of Wikipedia's "Welch's t-test" examples (t, df, and p by numerical
// integration of Student's density), and Student's distribution against
// its closed forms for one and two degrees of freedom.
func TestWelch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n1, s1, q1, n2, s2, q2 float64
		t, df, p               float64
	}{
		// A1 = 27.5 21.0 19.0 ..., A2 = 27.1 22.0 20.8 ...: sums and sums of squares.
		{15, 312.3, 6612.23, 15, 344.8, 7979.18, 2.455356, 24.988529, 0.02137800},
		// 10 values against 20, unequal variances.
		{10, 193.7, 3765.01, 20, 431.8, 9645.62, 2.225512, 24.524635, 0.03548453},
	} {
		v1, v2 := sampleVariance(tt.s1, tt.q1, tt.n1), sampleVariance(tt.s2, tt.q2, tt.n2)
		got, df, p := Welch(tt.s1/tt.n1, v1, tt.n1, tt.s2/tt.n2, v2, tt.n2)
		if math.Abs(got-tt.t) > 1e-5 || math.Abs(df-tt.df) > 1e-5 || math.Abs(p-tt.p) > 1e-7 {
			t.Errorf("t %.6f df %.6f p %.8f, want %.6f %.6f %.8f", got, df, p, tt.t, tt.df, tt.p)
		}
	}
	for _, x := range []float64{0.1, 1, 2.5, 12.706, 40} {
		if got, want := studentTwoSided(x, 1), 1-2/math.Pi*math.Atan(x); math.Abs(got-want) > 1e-12 {
			t.Errorf("df 1, t %g: p %.15f, want %.15f", x, got, want)
		}
		if got, want := studentTwoSided(x, 2), 1-x/math.Sqrt(2+x*x); math.Abs(got-want) > 1e-12 {
			t.Errorf("df 2, t %g: p %.15f, want %.15f", x, got, want)
		}
	}
	// Critical values of the t table: two-sided 5%.
	for df, crit := range map[float64]float64{10: 2.228139, 24: 2.063899, 1000: 1.962339} {
		if p := studentTwoSided(crit, df); math.Abs(p-0.05) > 1e-6 {
			t.Errorf("df %g, t %g: p %.8f, want 0.05", df, crit, p)
		}
	}
	if _, _, p := Welch(0.1, 0.09, 100, 0.1, 0.09, 100); p != 1 {
		t.Errorf("equal means: p %v", p)
	}
	if _, _, p := Welch(0.1, 0, 1, 0.2, 0, 1); p != 1 {
		t.Errorf("one trial each says nothing: p %v", p)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, t.TempDir(), flagsYAML)
	h.m.opts.Query = func(_ context.Context, expr string) (float64, error) {
		switch {
		case strings.Contains(expr, `checkout_done_total{variant="on"}`):
			return 250, nil
		case strings.Contains(expr, `checkout_done_total{variant="off"}`):
			return 200, nil
		case strings.Contains(expr, `tug_flag_evaluations_total{flag="new-checkout",environment="production",variant=`):
			return 1000, nil
		}
		t.Errorf("unexpected query %s", expr)
		return math.NaN(), nil
	}
	r, err := h.m.Report(ctx, "new-checkout", ReportRequest{Environment: "production", Metric: `sum(increase(checkout_done_total{variant="$VARIANT"}[1d]))`})
	if err != nil {
		t.Fatal(err)
	}
	// 200/1000 against 250/1000 as 0/1 outcomes, unequal variances:
	// t = 2.6809, df = 1985.6, p = 0.0074.
	if c := r.Comparisons; r.Control != "off" || r.Test != welchTest || len(c) != 1 || !c[0].Significant || c[0].Variant != "on" || math.Abs(c[0].Lift-0.05) > 1e-9 ||
		math.Abs(c[0].T-2.6809) > 1e-4 || math.Abs(c[0].DF-1985.6) > 0.1 || math.Abs(c[0].P-0.0074) > 1e-4 {
		t.Errorf("report %+v", r)
	}
	// Values per trial: the metric sums them, squares their squares.
	h.m.opts.Query = func(_ context.Context, expr string) (float64, error) {
		for _, q := range []struct {
			sub string
			v   float64
		}{
			{`order_amount_sum{variant="off"}`, 312.3}, {`order_amount_squares{variant="off"}`, 6612.23}, {`orders{variant="off"}`, 15},
			{`order_amount_sum{variant="on"}`, 344.8}, {`order_amount_squares{variant="on"}`, 7979.18}, {`orders{variant="on"}`, 15},
		} {
			if strings.Contains(expr, q.sub) {
				return q.v, nil
			}
		}
		t.Errorf("unexpected query %s", expr)
		return math.NaN(), nil
	}
	r, err = h.m.Report(ctx, "new-checkout", ReportRequest{Environment: "production", Metric: `sum(order_amount_sum{variant="$VARIANT"})`,
		Squares: `sum(order_amount_squares{variant="$VARIANT"})`, Total: `sum(orders{variant="$VARIANT"})`})
	if err != nil {
		t.Fatal(err)
	}
	if c := r.Comparisons; len(c) != 1 || math.Abs(c[0].T-2.455356) > 1e-5 || math.Abs(c[0].P-0.021378) > 1e-6 || !c[0].Significant {
		t.Errorf("report of values %+v", r)
	}
	if _, err := h.m.Report(ctx, "new-checkout", ReportRequest{Metric: "sum(x)"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a metric without $VARIANT: %v", err)
	}
}

// TestOverrideWrittenBackEnds: an override stays one while tug.yaml says
// otherwise; once tug.yaml says what it serves, it ends (a reset by
// tug.yaml in the history, nothing served changes, a restart keeps it
// ended). A kill is never written back.
func TestOverrideWrittenBackEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := newHarness(t, t.TempDir(), flagsYAML)
	if _, err := h.m.Set(ctx, "new-checkout", SetRequest{Environment: "production", Variant: "on", Who: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Kill(ctx, "new-checkout", "staging", "bob"); err != nil {
		t.Fatal(err)
	}
	state := func(m *Manager, env string) FlagState {
		t.Helper()
		list, err := m.List(env)
		if err != nil {
			t.Fatal(err)
		}
		return list[0]
	}

	// Another tug.yaml that does not say it: still an override.
	other := strings.Replace(flagsYAML, "production: {rollout: {on: 25, off: 75}}", "production: {rollout: {on: 30, off: 70}}", 1)
	if err := h.m.SetConfig(ctx, parse(t, other)); err != nil {
		t.Fatal(err)
	}
	if s := state(h.m, "production"); s.Override == nil || s.Serves == s.Desired {
		t.Fatalf("after an unrelated tug.yaml change: %+v", s)
	}

	// Written back.
	written := strings.Replace(flagsYAML, "production: {rollout: {on: 25, off: 75}}", "production: {default: on}", 1)
	if err := h.m.SetConfig(ctx, parse(t, written)); err != nil {
		t.Fatal(err)
	}
	if s := state(h.m, "production"); s.Override != nil || s.Serves != "on (+1 rule)" || s.Desired != s.Serves {
		t.Errorf("after writing it back: %+v", s)
	}
	if r := evaluate(t, h.m, "production", "new-checkout", nil); r.VariantName() != "on" {
		t.Errorf("served after writing it back: %+v", r)
	}
	if s := state(h.m, "staging"); s.Override == nil || !s.Override.Kill {
		t.Errorf("the kill in staging: %+v", s)
	}
	changes, err := h.m.History(ctx, store.FlagChangeQuery{Environment: "production", Flag: "new-checkout"})
	if err != nil {
		t.Fatal(err)
	}
	last := changes[len(changes)-1]
	if last.Kind != ChangeReset || last.Who != "tug.yaml" || last.Before != last.After || !strings.Contains(last.Reason, "tug.yaml now says") {
		t.Errorf("the history's last change: %+v", last)
	}

	// A restart does not bring it back.
	h2 := newHarness(t, h.dir, written)
	if s := state(h2.m, "production"); s.Override != nil {
		t.Errorf("after a restart: %+v", s)
	}

	// Written back while tug was stopped: ended at the start.
	if _, err := h2.m.Set(ctx, "new-checkout", SetRequest{Environment: "production", Variant: "off", Who: "ann"}); err != nil {
		t.Fatal(err)
	}
	h3 := newHarness(t, h.dir, strings.Replace(written, "production: {default: on}", "production: {default: off}", 1))
	if s := state(h3.m, "production"); s.Override != nil || s.Serves != "off (+1 rule)" {
		t.Errorf("written back while stopped: %+v", s)
	}
}
