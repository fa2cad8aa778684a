package scan

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/owenrumney/go-sarif/v3/pkg/report"
	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// ToolURI is where SARIF and CycloneDX documents say tug comes from.
const ToolURI = "https://github.com/tugdev/tug"

// sarifLevel maps a severity to SARIF's levels.
func sarifLevel(s Severity) string {
	switch s {
	case Critical, High:
		return "error"
	case Medium:
		return "warning"
	}
	return "note"
}

// WriteSARIF writes the findings as a SARIF 2.1.0 log with one run.
func WriteSARIF(w io.Writer, r *Report, version string) error {
	rep := report.NewV210Report()
	run := sarif.NewRunWithInformationURI("tug", ToolURI)
	run.Tool.Driver.WithVersion(version)
	for _, f := range r.Findings {
		if run.GetRuleIndex(f.Rule) < 0 {
			rule := run.AddRule(f.Rule).
				WithShortDescription(sarif.NewMultiformatMessageString().WithText(ruleTitle(f))).
				WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(sarifLevel(f.Severity)))
			if f.Help != "" {
				rule.WithHelp(sarif.NewMultiformatMessageString().WithText(f.Help))
			}
			pb := sarif.NewPropertyBag()
			pb.Add("kind", string(f.Kind))
			rule.WithProperties(pb)
		}
		res := run.CreateResultForRule(f.Rule).
			WithLevel(sarifLevel(f.Severity)).
			WithMessage(sarif.NewTextMessage(f.Message + fixSuffix(f))).
			WithPartialFingerprints(map[string]string{"tugFingerprint/v1": f.Fingerprint})
		loc := sarif.NewLocation()
		if f.Path != "" {
			pl := sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(f.Path))
			if f.Line > 0 {
				reg := sarif.NewRegion().WithStartLine(f.Line)
				if f.Column > 0 {
					reg.WithStartColumn(f.Column)
				}
				pl.WithRegion(reg)
			}
			loc.WithPhysicalLocation(pl)
		}
		if f.Package != "" {
			loc.AddLogicalLocation(sarif.NewLogicalLocation().WithName(f.Package).WithFullyQualifiedName(f.Package + "@" + f.Version).WithKind("module"))
		}
		res.AddLocation(loc)
		pb := sarif.NewPropertyBag()
		pb.Add("severity", f.Severity.String())
		if f.FixedVersion != "" {
			pb.Add("fixed_version", f.FixedVersion)
		}
		res.WithProperties(pb)
	}
	rep.AddRun(run)
	return rep.PrettyWrite(w)
}

func ruleTitle(f Finding) string {
	if r, ok := ruleByID(f.Rule); ok {
		return r.Title
	}
	switch f.Kind {
	case KindVulnerability:
		return "Known vulnerability " + f.Rule
	case KindSecret:
		return "Leaked secret (" + f.Rule + ")"
	}
	return f.Rule
}

func fixSuffix(f Finding) string {
	if f.Fix == "" {
		return ""
	}
	return ". Fix: " + f.Fix
}

// purl is a component's package URL.
func purl(c Component) string {
	typ := map[string]string{"Go": "golang", "npm": "npm", "PyPI": "pypi", "crates.io": "cargo", "RubyGems": "gem", "Debian": "deb", "Ubuntu": "deb", "Alpine": "apk"}[c.Ecosystem]
	if typ == "" {
		return ""
	}
	name := c.Name
	switch typ {
	case "deb":
		name = strings.ToLower(c.Ecosystem) + "/" + name
	case "apk":
		name = "alpine/" + name
	case "pypi":
		name = normalizeName("PyPI", name)
	}
	return "pkg:" + typ + "/" + name + "@" + c.Version
}

// WriteCycloneDX writes one target's components, and the vulnerabilities
// found in them, as a CycloneDX 1.5 JSON BOM.
func WriteCycloneDX(w io.Writer, t Target, findings []Finding, version string, now time.Time) error {
	bom := cdx.NewBOM()
	typ := cdx.ComponentTypeApplication
	if t.Image {
		typ = cdx.ComponentTypeContainer
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: now.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "tug", Version: version,
		}}},
		Component: &cdx.Component{Type: typ, Name: t.Name, BOMRef: "root"},
	}
	var comps []cdx.Component
	refs := map[string]bool{}
	for _, c := range t.Components {
		ref := purl(c)
		if ref == "" {
			ref = c.Ecosystem + ":" + c.Name + "@" + c.Version
		}
		if refs[ref] {
			continue
		}
		refs[ref] = true
		cc := cdx.Component{Type: cdx.ComponentTypeLibrary, BOMRef: ref, Name: c.Name, Version: c.Version, PackageURL: purl(c)}
		if c.License != "" {
			cc.Licenses = &cdx.Licenses{{Expression: c.License}}
		}
		if c.Ecosystem == "Debian" || c.Ecosystem == "Ubuntu" || c.Ecosystem == "Alpine" {
			cc.Type = cdx.ComponentTypeLibrary
		}
		comps = append(comps, cc)
	}
	bom.Components = &comps
	var vulns []cdx.Vulnerability
	for _, f := range findings {
		if f.Kind != KindVulnerability || (f.Path != t.Name && t.Image) {
			continue
		}
		ref := purl(Component{Ecosystem: f.Ecosystem, Name: f.Package, Version: strings.TrimPrefix(f.Version, "v")})
		if f.Ecosystem == "Go" {
			ref = purl(Component{Ecosystem: "Go", Name: f.Package, Version: f.Version})
		}
		if !refs[ref] {
			ref = "root"
		}
		v := cdx.Vulnerability{
			BOMRef: f.Fingerprint, ID: f.Rule, Description: f.Message,
			Ratings: &[]cdx.VulnerabilityRating{{Severity: cdxSeverity(f.Severity), Method: cdx.ScoringMethodOther}},
			Affects: &[]cdx.Affects{{Ref: ref}},
		}
		if f.Fix != "" {
			v.Recommendation = f.Fix
		}
		vulns = append(vulns, v)
	}
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_5)
}

func cdxSeverity(s Severity) cdx.Severity {
	return map[Severity]cdx.Severity{Critical: cdx.SeverityCritical, High: cdx.SeverityHigh, Medium: cdx.SeverityMedium, Low: cdx.SeverityLow, Info: cdx.SeverityInfo}[s]
}

// WriteTable prints findings for a terminal: one line each, highest
// severity first, with the location and the fix.
func WriteTable(w io.Writer, r *Report) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for _, wr := range r.Warnings {
		fmt.Fprintf(bw, "warning: %s\n", wr)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(bw, "no findings")
		return
	}
	fmt.Fprintf(bw, "%-8s  %-16s  %-24s  %-40s  %s\n", "SEVERITY", "KIND", "RULE", "LOCATION", "MESSAGE")
	for _, f := range r.Findings {
		fmt.Fprintf(bw, "%-8s  %-16s  %-24s  %-40s  %s\n", strings.ToUpper(f.Severity.String()), f.Kind, f.Rule, f.Location(), f.Message)
		if f.Fix != "" {
			fmt.Fprintf(bw, "%-8s  %-16s  %-24s  %-40s  fix: %s\n", "", "", "", "", f.Fix)
		}
	}
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	var parts []string
	for s := Critical; s >= Info; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(bw, "%d findings: %s\n", len(r.Findings), strings.Join(parts, ", "))
}

// Counts is how many findings there are of each severity.
func Counts(fs []Finding) map[string]int {
	out := map[string]int{}
	for _, f := range fs {
		out[f.Severity.String()]++
	}
	return out
}

// baselineHeader starts a baseline file.
const baselineHeader = `# tug scan baseline: findings accepted when this file was written.
# A pipeline fails only on findings not listed here. One finding a line:
# fingerprint, then (for the reviewer) severity, rule and location.
# Delete a line to have that finding reported again.
`

// WriteBaseline writes findings as a baseline: sorted, one a line.
func WriteBaseline(w io.Writer, fs []Finding) error {
	lines := make([]string, 0, len(fs))
	for _, f := range fs {
		lines = append(lines, fmt.Sprintf("%s  %-8s  %s  %s", f.Fingerprint, f.Severity, f.Rule, f.Location()))
	}
	slices.Sort(lines)
	if _, err := io.WriteString(w, baselineHeader); err != nil {
		return err
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, l+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// ReadBaseline reads a baseline's fingerprints.
func ReadBaseline(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fp := strings.Fields(line)[0]
		if len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("line %d: %q is not a fingerprint", n, fp)
		}
		out[fp] = true
	}
	return out, sc.Err()
}

// New returns the findings whose fingerprints the baseline lacks.
func New(fs []Finding, baseline map[string]bool) []Finding {
	var out []Finding
	for _, f := range fs {
		if !baseline[f.Fingerprint] {
			out = append(out, f)
		}
	}
	return out
}
