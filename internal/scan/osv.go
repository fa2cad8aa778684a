package scan

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OSV is one advisory in the OSV schema (https://ossf.github.io/osv-schema/),
// as much of it as tug reads.
type OSV struct {
	ID               string         `json:"id"`
	Modified         time.Time      `json:"modified"`
	Published        time.Time      `json:"published,omitzero"`
	Withdrawn        time.Time      `json:"withdrawn,omitzero"`
	Aliases          []string       `json:"aliases,omitempty"`
	Summary          string         `json:"summary,omitempty"`
	Details          string         `json:"details,omitempty"`
	Severity         []OSVSeverity  `json:"severity,omitempty"`
	Affected         []OSVAffected  `json:"affected"`
	DatabaseSpecific map[string]any `json:"database_specific,omitempty"`
}

// OSVSeverity is a scored severity (CVSS vector, or a plain word).
type OSVSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// OSVAffected is one affected package and its versions.
type OSVAffected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		Purl      string `json:"purl,omitempty"`
	} `json:"package"`
	Ranges            []OSVRange      `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  map[string]any  `json:"database_specific,omitempty"`
}

// OSVRange is a list of introduced/fixed/last_affected events.
type OSVRange struct {
	Type   string              `json:"type"`
	Events []map[string]string `json:"events"`
}

// advisories holds OSV records indexed by ecosystem and package name.
type advisories struct {
	byPkg map[string][]*OSV
	count int
}

func pkgKey(ecosystem, name string) string {
	eco := baseEcosystem(ecosystem)
	return eco + "\x00" + normalizeName(eco, name)
}

// baseEcosystem drops an ecosystem's release suffix: "Debian:12" is
// "Debian", "Alpine:v3.19" is "Alpine".
func baseEcosystem(e string) string {
	if i := strings.IndexByte(e, ':'); i > 0 {
		e = e[:i]
	}
	return e
}

// normalizeName makes package names comparable the way their registry
// does: PyPI folds case and treats -, _ and . alike.
func normalizeName(eco, name string) string {
	switch eco {
	case "PyPI":
		return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(name))
	case "npm", "RubyGems", "crates.io":
		return strings.ToLower(name)
	}
	return name
}

func (a *advisories) add(o *OSV) {
	if a.byPkg == nil {
		a.byPkg = map[string][]*OSV{}
	}
	if !o.Withdrawn.IsZero() {
		return
	}
	a.count++
	seen := map[string]bool{}
	for _, af := range o.Affected {
		k := pkgKey(af.Package.Ecosystem, af.Package.Name)
		if !seen[k] {
			a.byPkg[k] = append(a.byPkg[k], o)
			seen[k] = true
		}
	}
}

// loadOSVDir reads every *.json file under dir as an OSV record. A file
// that is not valid OSV is reported through bad and skipped.
func loadOSVDir(dir string, into *advisories, bad func(path string, err error)) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			bad(p, err)
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		o, err := readOSV(p)
		if err != nil {
			bad(p, err)
			return nil
		}
		into.add(o)
		return nil
	})
}

func readOSV(p string) (*OSV, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var o OSV
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	if o.ID == "" {
		return nil, errors.New("not an OSV record: no id")
	}
	return &o, nil
}

// match is one advisory that affects a package version.
type match struct {
	osv   *OSV
	fixed string
}

// lookup returns the advisories affecting name@version in ecosystem.
func (a *advisories) lookup(ecosystem, name, version string) []match {
	if a == nil || version == "" {
		return nil
	}
	eco := baseEcosystem(ecosystem)
	var out []match
	for _, o := range a.byPkg[pkgKey(eco, name)] {
		for _, af := range o.Affected {
			if baseEcosystem(af.Package.Ecosystem) != eco || normalizeName(eco, af.Package.Name) != normalizeName(eco, name) {
				continue
			}
			if ok, fixed := affects(eco, af, version); ok {
				out = append(out, match{osv: o, fixed: fixed})
				break
			}
		}
	}
	return out
}

// affects says whether version is affected, and the lowest fixed version
// above it.
func affects(eco string, af OSVAffected, version string) (bool, string) {
	hit := slices.Contains(af.Versions, version)
	fixed := ""
	for _, r := range af.Ranges {
		if r.Type == "GIT" {
			continue
		}
		type ev struct{ kind, v string }
		var evs []ev
		for _, e := range r.Events {
			for k, v := range e {
				evs = append(evs, ev{k, v})
			}
		}
		slices.SortStableFunc(evs, func(x, y ev) int {
			if x.v == "0" || y.v == "0" {
				return boolCmp(y.v == "0", x.v == "0")
			}
			return compareVersions(eco, x.v, y.v)
		})
		in := false
		for _, e := range evs {
			switch e.kind {
			case "introduced":
				if e.v == "0" || compareVersions(eco, version, e.v) >= 0 {
					in = true
				}
			case "fixed":
				if compareVersions(eco, version, e.v) >= 0 {
					in = false
				} else if in && fixed == "" {
					fixed = e.v
				}
			case "last_affected":
				if compareVersions(eco, version, e.v) > 0 {
					in = false
				}
			}
		}
		if in {
			hit = true
		}
	}
	if !hit {
		return false, ""
	}
	return true, fixed
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// severityOf reads an advisory's severity: GitHub's database_specific
// severity, a CVSS v3 vector, or a plain word; def when it has none.
func severityOf(o *OSV, af *OSVAffected, def Severity) Severity {
	for _, ds := range []map[string]any{o.DatabaseSpecific, afDB(af)} {
		if s, ok := ds["severity"].(string); ok {
			if v, err := ParseSeverity(s); err == nil {
				return v
			}
		}
	}
	for _, s := range o.Severity {
		if strings.HasPrefix(s.Type, "CVSS_V3") || strings.HasPrefix(s.Type, "CVSS_V4") {
			if score, ok := cvss3Score(s.Score); ok {
				return severityFromScore(score)
			}
		}
		if v, err := ParseSeverity(s.Score); err == nil {
			return v
		}
	}
	return def
}

func afDB(af *OSVAffected) map[string]any {
	if af == nil {
		return nil
	}
	return af.DatabaseSpecific
}

func severityFromScore(s float64) Severity {
	switch {
	case s >= 9:
		return Critical
	case s >= 7:
		return High
	case s >= 4:
		return Medium
	case s > 0:
		return Low
	}
	return Info
}

// title is a one-line description of an advisory.
func title(o *OSV) string {
	s := o.Summary
	if s == "" {
		s, _, _ = strings.Cut(o.Details, "\n")
	}
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// vulnFinding turns a match into a finding.
func vulnFinding(m match, eco, name, version, path string, def Severity) Finding {
	var af *OSVAffected
	for i := range m.osv.Affected {
		if normalizeName(eco, m.osv.Affected[i].Package.Name) == normalizeName(eco, name) {
			af = &m.osv.Affected[i]
		}
	}
	f := Finding{
		Kind: KindVulnerability, Rule: m.osv.ID, Severity: severityOf(m.osv, af, def),
		Path: path, Package: name, Version: version, FixedVersion: m.fixed, Ecosystem: eco,
		Aliases: m.osv.Aliases,
		Message: fmt.Sprintf("%s@%s: %s", name, version, title(m.osv)),
	}
	if m.fixed != "" {
		f.Fix = fmt.Sprintf("upgrade %s to %s", name, m.fixed)
	} else {
		f.Fix = "no fixed version yet: remove or replace " + name
	}
	return f
}
