package scan

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
)

// Kind is what a finding is about.
type Kind string

// The kinds of finding.
const (
	KindSecret           Kind = "secret"
	KindVulnerability    Kind = "vulnerability"
	KindLicense          Kind = "license"
	KindMisconfiguration Kind = "misconfiguration"
)

// Severity orders findings: Info < Low < Medium < High < Critical.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

// String is the severity's name, as config.ScanSeverities spells it.
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	names := config.ScanSeverities() // highest first
	return names[len(names)-1-int(s)]
}

// ParseSeverity reads a severity name (case-insensitive); CVSS's "moderate"
// is medium.
func ParseSeverity(s string) (Severity, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "moderate":
		return Medium, nil
	default:
		names := config.ScanSeverities()
		if i := slices.Index(names, v); i >= 0 {
			return Severity(len(names) - 1 - i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (critical, high, medium, low or info)", s)
}

// SeverityNames lists the severities, highest first.
func SeverityNames() []string { return config.ScanSeverities() }

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Finding is one problem a scanner found. Every finding has a rule, a
// severity, a location (Path and Line, or Package and Version), a stable
// Fingerprint and a Fix hint. Secret findings never carry the secret.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Path is relative to the scanned root (slash-separated), or an image
	// reference for image findings.
	Path         string `json:"path"`
	Line         int    `json:"line,omitempty"`
	Column       int    `json:"column,omitempty"`
	Package      string `json:"package"`
	Version      string `json:"version"`
	FixedVersion string `json:"fixed_version"`
	// Ecosystem is the OSV ecosystem of Package (Go, npm, PyPI, ...).
	Ecosystem   string `json:"ecosystem,omitempty"`
	Fingerprint string `json:"fingerprint"`
	Message     string `json:"message"`
	// Fix says how to make the finding go away.
	Fix string `json:"fix,omitempty"`
	// Reachable is set for Go vulnerabilities: whether the code calls a
	// vulnerable symbol.
	Reachable *bool `json:"reachable,omitempty"`
	// Aliases are other identifiers of a vulnerability (CVE, GHSA).
	Aliases []string `json:"aliases,omitempty"`
	// Commit is the git commit a secret from --history was found in.
	Commit string `json:"commit,omitempty"`
	// Help is the rule's short documentation.
	Help string `json:"help,omitempty"`

	// key is what the fingerprint is computed from besides the rule and
	// the location; it is set by scanners and not printed.
	key string
}

// Location is "path:line", "path", or "package@version".
func (f *Finding) Location() string {
	switch {
	case f.Path != "" && f.Line > 0:
		return fmt.Sprintf("%s:%d", f.Path, f.Line)
	case f.Package != "" && f.Path != "":
		return f.Path + " " + f.Package + "@" + f.Version
	case f.Package != "":
		return f.Package + "@" + f.Version
	}
	return f.Path
}

// fingerprint sets f.Fingerprint from what identifies the finding across
// scans: kind, rule, path, package, version and the scanner's key, not the
// line (so edits elsewhere in the file keep it stable).
func (f *Finding) fingerprint() {
	if f.Fingerprint != "" {
		return
	}
	h := sha256.New()
	for _, s := range []string{string(f.Kind), f.Rule, f.Path, f.Package, f.Version, f.key} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	f.Fingerprint = hex.EncodeToString(h.Sum(nil))[:16]
}

// sortFindings orders by severity (highest first), then location and rule.
func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Package, b.Package),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Fingerprint, b.Fingerprint),
		)
	})
}

// dedupe drops findings with a fingerprint seen before (the same advisory
// reached through two aliases, the same secret in a file and its history).
func dedupe(fs []Finding) []Finding {
	seen := map[string]bool{}
	out := fs[:0]
	for _, f := range fs {
		if seen[f.Fingerprint] {
			continue
		}
		seen[f.Fingerprint] = true
		out = append(out, f)
	}
	return out
}

// Failing returns the findings at or above min.
func Failing(fs []Finding, min Severity) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity >= min {
			out = append(out, f)
		}
	}
	return out
}

// JSON is the `--json` document: {"findings": [...]}.
func JSON(r *Report) ([]byte, error) {
	doc := struct {
		Findings []Finding `json:"findings"`
		Warnings []string  `json:"warnings,omitempty"`
	}{Findings: r.Findings, Warnings: r.Warnings}
	if doc.Findings == nil {
		doc.Findings = []Finding{}
	}
	return json.MarshalIndent(doc, "", "  ")
}
