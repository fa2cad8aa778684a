package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Values of an alert's severity: tug's P0..P3 and Prometheus's usual names.
func severityValues() []string {
	return []string{"P0", "P1", "P2", "P3", "critical", "high", "warning", "info"}
}

func (v *validator) alerts() {
	for i, a := range v.c.Alerts {
		ap := joinIndex("alerts", i)
		if a.Alert == "" {
			v.errorf(ap+".alert", "missing alert name")
		}
		if a.Expr == "" {
			v.errorf(ap+".expr", "missing expression")
		} else {
			v.promQL(ap+".expr", a.Expr, a.Expr)
		}
		v.enum(ap+".severity", a.Severity, severityValues()...)
	}
}

// analysisPlaceholders stands in for $RELEASE, $SERVICE and $ENVIRONMENT,
// replaced when an analysis query runs, with names of the same length, so
// the query parses as it will and positions stay true.
func analysisPlaceholders() *strings.Replacer {
	return strings.NewReplacer("$RELEASE", "_RELEASE", "$SERVICE", "_SERVICE", "$ENVIRONMENT", "_ENVIRONMENT")
}

// Expr parses the query as it will run, its placeholders filled in.
func (q AnalysisQuery) Expr() (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(analysisPlaceholders().Replace(q.Query))
}

// analysisQueries checks a canary's PromQL checks.
func (v *validator) analysisQueries(ap string, a *Analysis) {
	placeholders := analysisPlaceholders()
	for i, q := range a.Queries {
		qp := joinIndex(ap+".queries", i)
		if strings.TrimSpace(q.Query) == "" {
			v.errorKey(qp+".query", qp, "missing query: a PromQL expression such as sum(rate(errors_total{release=\"$RELEASE\"}[1m]))")
		} else {
			v.promQL(qp+".query", q.Query, placeholders.Replace(q.Query))
		}
		if q.Max == nil && q.Min == nil {
			v.errorKey(qp, qp, "a query checks nothing without max or min: set at least one bound")
		}
	}
}

// promQL parses the PromQL at path (src as written, expr as parsed) the
// way the rule engine and the query API will, and points at the place of
// the first parse error inside it. An expression whose value is a range
// vector or a string can never be compared, so it is refused too.
func (v *validator) promQL(path, src, expr string) {
	if v.isBad(path) {
		return
	}
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		var pe *parser.ParseErr
		var list parser.ParseErrors
		switch {
		case errors.As(err, &list) && len(list) > 0:
			pe = &list[0]
		case errors.As(err, &pe):
		default:
			v.errorf(path, "parse error: %v", err)
			return
		}
		// An error at the end of the input (an unclosed parenthesis)
		// points at the last character written.
		off := min(int(pe.PositionRange.Start), len(strings.TrimRight(src, " \t\r\n"))-1)
		off = max(off, 0)
		pos := v.posWithin(path, off, src[off:min(off+1, len(src))])
		msg := strings.NewReplacer("_RELEASE", "$RELEASE", "_SERVICE", "$SERVICE", "_ENVIRONMENT", "$ENVIRONMENT").Replace(pe.Err.Error())
		v.d.add(&Error{File: v.d.file, Pos: pos, Path: path, Msg: "parse error: " + msg})
		return
	}
	switch t := e.Type(); t {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
	default:
		v.errorf(path, "the expression is a %s; it must give an instant vector or a scalar", describeType(t))
	}
}

func describeType(t parser.ValueType) string {
	switch t {
	case parser.ValueTypeMatrix:
		return "range vector (add a function such as rate(...[5m]))"
	case parser.ValueTypeString:
		return "string"
	}
	return fmt.Sprint(t)
}
