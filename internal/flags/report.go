package flags

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// ReportRequest asks how an outcome differs between a flag's variants in
// one environment. Metric counts each variant's successes (conversions)
// and must hold $VARIANT (e.g. `sum(increase(checkout_done_total
// {variant="$VARIANT"}[7d]))`); Total counts each variant's trials and
// defaults to its evaluations over Range. $FLAG and $ENVIRONMENT are
// filled in too.
type ReportRequest struct {
	Environment string  `json:"environment"`
	Metric      string  `json:"metric"`
	Total       string  `json:"total,omitempty"`
	Range       string  `json:"range,omitempty"`
	Confidence  float64 `json:"confidence,omitempty"`
}

// VariantOutcome is one variant's figures.
type VariantOutcome struct {
	Variant   string  `json:"variant"`
	Successes float64 `json:"successes"`
	Trials    float64 `json:"trials"`
	Rate      float64 `json:"rate"`
}

// Comparison is a variant against the control by a two-proportion z-test.
type Comparison struct {
	Variant string `json:"variant"`
	// Lift is the variant's rate minus the control's.
	Lift float64 `json:"lift"`
	Z    float64 `json:"z"`
	// P is the two-sided p-value; Confidence is 1 - P.
	P           float64 `json:"p"`
	Confidence  float64 `json:"confidence"`
	Significant bool    `json:"significant"`
}

// Report is the answer of `tug flags report`.
type Report struct {
	Flag        string           `json:"flag"`
	Environment string           `json:"environment"`
	Test        string           `json:"test"`
	Control     string           `json:"control"`
	Required    float64          `json:"required_confidence"`
	Variants    []VariantOutcome `json:"variants"`
	Comparisons []Comparison     `json:"comparisons"`
}

// Report queries each variant's outcome and compares every variant with
// the control (the environment's default variant as tug.yaml says).
func (m *Manager) Report(ctx context.Context, name string, req ReportRequest) (*Report, error) {
	if m.opts.Query == nil {
		return nil, fmt.Errorf("%w: this server has no metrics to report from", ErrInvalid)
	}
	if !strings.Contains(req.Metric, "$VARIANT") {
		return nil, fmt.Errorf("%w: --metric must select one variant with $VARIANT, e.g. sum(increase(orders_total{variant=\"$VARIANT\"}[1d]))", ErrInvalid)
	}
	if req.Total != "" && !strings.Contains(req.Total, "$VARIANT") {
		return nil, fmt.Errorf("%w: --total must select one variant with $VARIANT", ErrInvalid)
	}
	if req.Range == "" {
		req.Range = "1d"
	}
	if !labelValue.MatchString(req.Range) {
		return nil, fmt.Errorf("%w: range %q is not a PromQL duration", ErrInvalid, req.Range)
	}
	if req.Confidence == 0 {
		req.Confidence = 0.95
	}
	if req.Confidence <= 0 || req.Confidence >= 1 {
		return nil, fmt.Errorf("%w: confidence %v: want between 0 and 1", ErrInvalid, req.Confidence)
	}
	m.mu.Lock()
	f, err := m.flagLocked(name)
	env := req.Environment
	if env == "" && err == nil {
		env = environments(m.cfg)[0]
	}
	if err == nil {
		_, err = m.envsLocked(env)
	}
	var control string
	if err == nil {
		control = m.desiredLocked(name, f, env).Default
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	total := req.Total
	if total == "" {
		total = `sum(increase(tug_flag_evaluations_total{flag="$FLAG",environment="$ENVIRONMENT",variant="$VARIANT"}[` + req.Range + `]))`
	}
	r := &Report{Flag: name, Environment: env, Test: "two-proportion z-test", Control: control, Required: req.Confidence}
	fill := strings.NewReplacer("$FLAG", name, "$ENVIRONMENT", env)
	for _, v := range slices.Sorted(maps.Keys(f.Variants)) {
		q := strings.NewReplacer("$VARIANT", v)
		succ, err := m.query(ctx, q.Replace(fill.Replace(req.Metric)))
		if err != nil {
			return nil, err
		}
		trials, err := m.query(ctx, q.Replace(fill.Replace(total)))
		if err != nil {
			return nil, err
		}
		o := VariantOutcome{Variant: v, Successes: succ, Trials: trials}
		if trials > 0 {
			o.Rate = succ / trials
		}
		r.Variants = append(r.Variants, o)
	}
	var ctl VariantOutcome
	for _, o := range r.Variants {
		if o.Variant == control {
			ctl = o
		}
	}
	for _, o := range r.Variants {
		if o.Variant == control || o.Trials == 0 {
			continue
		}
		z, p := TwoProportion(ctl.Successes, ctl.Trials, o.Successes, o.Trials)
		r.Comparisons = append(r.Comparisons, Comparison{Variant: o.Variant, Lift: o.Rate - ctl.Rate, Z: z, P: p, Confidence: 1 - p, Significant: 1-p >= req.Confidence})
	}
	return r, nil
}

// query is one number; no data (NaN, see Options.Query) counts as 0: a
// variant nobody got.
func (m *Manager) query(ctx context.Context, expr string) (float64, error) {
	v, err := m.opts.Query(ctx, expr)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if math.IsNaN(v) {
		return 0, nil
	}
	return v, nil
}

// TwoProportion tests whether two success rates differ: x successes of n
// trials each. It returns the z statistic (positive when the second rate
// is higher) and the two-sided p-value of the pooled z-test.
func TwoProportion(x1, n1, x2, n2 float64) (z, p float64) {
	if n1 <= 0 || n2 <= 0 {
		return 0, 1
	}
	p1, p2 := x1/n1, x2/n2
	pool := (x1 + x2) / (n1 + n2)
	se := math.Sqrt(pool * (1 - pool) * (1/n1 + 1/n2))
	if se == 0 {
		if p1 == p2 {
			return 0, 1
		}
		return math.Inf(sign(p2 - p1)), 0
	}
	z = (p2 - p1) / se
	return z, math.Erfc(math.Abs(z) / math.Sqrt2)
}

func sign(f float64) int {
	if f < 0 {
		return -1
	}
	return 1
}
