package alert

import "strings"

// DefaultSeverity is given to an alert of tug.yaml that names none.
const DefaultSeverity = "P2"

// severityNames maps every accepted severity to tug's P0..P3, most severe
// first.
func severityNames() [4]struct{ p, name string } {
	return [4]struct{ p, name string }{
		{"P0", "critical"},
		{"P1", "high"},
		{"P2", "warning"},
		{"P3", "info"},
	}
}

// Severity maps a severity as written (P0..P3, or critical, high, warning,
// info, in any case) to P0..P3. ok is false for anything else, which is
// then shown as written.
func Severity(s string) (p string, ok bool) {
	for _, n := range severityNames() {
		if strings.EqualFold(s, n.p) || strings.EqualFold(s, n.name) {
			return n.p, true
		}
	}
	return s, false
}

// SeverityName is the Prometheus-style name of a P0..P3 severity
// ("critical" for P0); other values come back unchanged.
func SeverityName(p string) string {
	for _, n := range severityNames() {
		if n.p == p {
			return n.name
		}
	}
	return p
}

// severityRank orders severities: 0 for P0 (most severe) to 3 for P3;
// unknown severities rank last.
func severityRank(s string) int {
	p, _ := Severity(s)
	for i, n := range severityNames() {
		if n.p == p {
			return i
		}
	}
	return len(severityNames())
}
