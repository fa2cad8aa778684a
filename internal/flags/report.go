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
// one environment. Metric sums each variant's outcome per trial and must
// hold $VARIANT: its successes (conversions, each 0 or 1, e.g.
// `sum(increase(checkout_done_total{variant="$VARIANT"}[7d]))`), or, with
// Squares, a value (order amounts), Squares then summing their squares.
// Total counts each variant's trials and defaults to its evaluations over
// Range. $FLAG and $ENVIRONMENT are filled in too.
type ReportRequest struct {
	Environment string  `json:"environment"`
	Metric      string  `json:"metric"`
	Total       string  `json:"total,omitempty"`
	Squares     string  `json:"squares,omitempty"`
	Range       string  `json:"range,omitempty"`
	Confidence  float64 `json:"confidence,omitempty"`
}

// VariantOutcome is one variant's figures: the sum of its outcomes
// (Successes), its trials, and their mean (Rate) and standard deviation.
type VariantOutcome struct {
	Variant   string  `json:"variant"`
	Successes float64 `json:"successes"`
	Trials    float64 `json:"trials"`
	Rate      float64 `json:"rate"`
	StdDev    float64 `json:"stddev"`
}

// Comparison is a variant against the control by Welch's t-test.
type Comparison struct {
	Variant string `json:"variant"`
	// Lift is the variant's rate (mean) minus the control's.
	Lift float64 `json:"lift"`
	// T is Welch's statistic, positive when the variant's mean is
	// higher; DF its Welch–Satterthwaite degrees of freedom.
	T  float64 `json:"t"`
	DF float64 `json:"df"`
	// P is the two-sided p-value; Confidence is 1 - P.
	P           float64 `json:"p"`
	Confidence  float64 `json:"confidence"`
	Significant bool    `json:"significant"`
}

// welchTest names the test in reports.
const welchTest = "Welch's t-test (unequal variances)"

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
	if req.Squares != "" && !strings.Contains(req.Squares, "$VARIANT") {
		return nil, fmt.Errorf("%w: --squares must select one variant with $VARIANT", ErrInvalid)
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
	r := &Report{Flag: name, Environment: env, Test: welchTest, Control: control, Required: req.Confidence}
	fill := strings.NewReplacer("$FLAG", name, "$ENVIRONMENT", env)
	vars := map[string]float64{}
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
		// Outcomes of 0 or 1 are their own squares.
		squares := succ
		if req.Squares != "" {
			if squares, err = m.query(ctx, q.Replace(fill.Replace(req.Squares))); err != nil {
				return nil, err
			}
		}
		o := VariantOutcome{Variant: v, Successes: succ, Trials: trials}
		if trials > 0 {
			o.Rate = succ / trials
		}
		vars[v] = sampleVariance(succ, squares, trials)
		o.StdDev = math.Sqrt(vars[v])
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
		t, df, p := Welch(ctl.Rate, vars[ctl.Variant], ctl.Trials, o.Rate, vars[o.Variant], o.Trials)
		r.Comparisons = append(r.Comparisons, Comparison{Variant: o.Variant, Lift: o.Rate - ctl.Rate, T: t, DF: df, P: p, Confidence: 1 - p, Significant: 1-p >= req.Confidence})
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

// sampleVariance is the sample variance of n values whose sum is sum
// and sum of squares is squares (0 for fewer than two).
func sampleVariance(sum, squares, n float64) float64 {
	if n < 2 {
		return 0
	}
	return max(0, (squares-sum*sum/n)/(n-1))
}

// Welch tests whether two means differ without assuming equal variances:
// each sample's mean, sample variance and size. It returns the t
// statistic (positive when the second mean is higher), the
// Welch–Satterthwaite degrees of freedom and the two-sided p-value from
// Student's t distribution. A sample of fewer than two says nothing.
func Welch(mean1, var1, n1, mean2, var2, n2 float64) (t, df, p float64) {
	if n1 < 2 || n2 < 2 {
		return 0, 0, 1
	}
	a, b := var1/n1, var2/n2
	se := math.Sqrt(a + b)
	if se == 0 {
		if mean1 == mean2 {
			return 0, n1 + n2 - 2, 1
		}
		return math.Inf(sign(mean2 - mean1)), n1 + n2 - 2, 0
	}
	t = (mean2 - mean1) / se
	df = (a + b) * (a + b) / (a*a/(n1-1) + b*b/(n2-1))
	return t, df, studentTwoSided(t, df)
}

// studentTwoSided is P(|T| >= |t|) for Student's t with df degrees of
// freedom: the regularized incomplete beta I_{df/(df+t²)}(df/2, 1/2).
func studentTwoSided(t, df float64) float64 {
	if math.IsInf(t, 0) {
		return 0
	}
	return regIncBeta(df/(df+t*t), df/2, 0.5)
}

// regIncBeta is the regularized incomplete beta function I_x(a, b), by
// its continued fraction (modified Lentz), on the side where it
// converges fast.
func regIncBeta(x, a, b float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(x, a, b) / a
	}
	return 1 - front*betaFraction(1-x, b, a)/b
}

func betaFraction(x, a, b float64) float64 {
	const tiny, eps = 1e-300, 1e-15
	clamp := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/clamp(1-(a+b)*x/(a+1))
	h := d
	for m := 1.0; m <= 500; m++ {
		num := m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		h *= d * c
		num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		d = 1 / clamp(1+num*d)
		c = clamp(1 + num/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

func sign(f float64) int {
	if f < 0 {
		return -1
	}
	return 1
}
