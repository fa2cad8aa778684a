package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"

	"github.com/tugdev/tug/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/scan-rules.md")

// testNow is the clock of every test scan.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testDB builds a database from the fixture advisories only.
func testDB(t *testing.T) *DB {
	t.Helper()
	db, err := BuildDB(filepath.Join(t.TempDir(), "db"), []string{"testdata/advisories"}, "fixtures", testNow)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func all(root string, db *DB) Options {
	return Options{Root: root, Secrets: true, Deps: true, Licenses: true, IaC: true, DB: db, Now: func() time.Time { return testNow },
		ModCache: "testdata/modcache", LicensePolicy: &config.Licenses{Deny: []string{"GPL-3.0-only"}}}
}

func run(t *testing.T, o Options) *Report {
	t.Helper()
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// brief is a finding as tests compare it.
func brief(f Finding) string {
	return fmt.Sprintf("%s %s %s %s", f.Severity, f.Rule, f.Location(), f.FixedVersion)
}

func briefs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, strings.TrimSpace(brief(f)))
	}
	return out
}

func TestCleanFixtureHasNoFindings(t *testing.T) {
	t.Parallel()
	rep := run(t, all("testdata/clean", testDB(t)))
	if len(rep.Findings) != 0 {
		t.Errorf("clean fixture: %d findings, want 0:\n%s", len(rep.Findings), strings.Join(briefs(rep.Findings), "\n"))
	}
	for _, w := range rep.Warnings {
		if !strings.HasPrefix(w, "licences of 1 packages could not be read") {
			t.Errorf("warning: %s", w)
		}
	}
}

func TestLeakedCloudKey(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/leaky", Secrets: true})
	if len(rep.Findings) != 1 {
		t.Fatalf("findings = %v, want the one planted key", briefs(rep.Findings))
	}
	f := rep.Findings[0]
	if f.Kind != KindSecret || f.Rule != "aws-access-token" || f.Severity != Critical || f.Path != "config.env" || f.Line != 3 {
		t.Errorf("finding = %+v", f)
	}
	b, _ := JSON(rep)
	if bytes.Contains(b, []byte("AKIAQYLPMN5HHHFPZAM2")) {
		t.Errorf("the JSON output holds the secret: %s", b)
	}
	again := run(t, Options{Root: "testdata/leaky", Secrets: true})
	if again.Findings[0].Fingerprint != f.Fingerprint || len(f.Fingerprint) != 16 {
		t.Errorf("fingerprint not stable: %q then %q", f.Fingerprint, again.Findings[0].Fingerprint)
	}
}

func TestGoReachability(t *testing.T) {
	t.Parallel()
	db := testDB(t)
	for _, tc := range []struct {
		dir       string
		want      string
		reachable bool
	}{
		{"testdata/go-reachable", "high GO-2021-0113 main.go:10 v0.3.7", true},
		{"testdata/go-unreachable", "info GO-2021-0113 go.mod:5 v0.3.7", false},
	} {
		t.Run(filepath.Base(tc.dir), func(t *testing.T) {
			t.Parallel()
			rep := run(t, Options{Root: tc.dir, Deps: true, DB: db, Now: func() time.Time { return testNow }})
			got := briefs(rep.Findings)
			if len(got) != 1 || got[0] != tc.want {
				t.Fatalf("findings = %q, want [%q] (warnings %v)", got, tc.want, rep.Warnings)
			}
			f := rep.Findings[0]
			if f.Reachable == nil || *f.Reachable != tc.reachable || f.Package != "golang.org/x/text" || f.Version != "v0.3.6" {
				t.Errorf("finding = %+v", f)
			}
		})
	}
}

func TestInfrastructureRules(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/iac", IaC: true, Now: func() time.Time { return testNow }})
	want := []string{
		"critical TUG-TF-003 main.tf:19",
		"high TUG-DC-001 docker-compose.yml:4",
		"high TUG-DC-003 docker-compose.yml:6",
		"medium TUG-DC-002 docker-compose.yml:9",
		"low TUG-DF-002 Dockerfile.web:1",
		"low TUG-DF-002 Dockerfile.web:3",
		"high TUG-DF-003 Dockerfile:2",
		"high TUG-K8S-001 deploy.yaml:12",
		"high TUG-TF-001 main.tf:4",
		"high TUG-TF-002 main.tf:12",
		"high TUG-TUG-001 tug.yaml:7",
		"medium TUG-PARSE-001 broken/Dockerfile:2",
		"medium TUG-PARSE-001 broken/main.tf:1",
		"medium TUG-DF-001 Dockerfile:1",
		"medium TUG-DF-004 Dockerfile:4",
		"medium TUG-K8S-002 deploy.yaml:14",
		"medium TUG-K8S-004 deploy.yaml:9",
		"low TUG-K8S-003 deploy.yaml:9",
		"low TUG-TF-004 main.tf:17",
		"low TUG-TUG-002 tug.yaml:3",
	}
	got := briefs(rep.Findings)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range rep.Findings {
		if f.Fix == "" || f.Fingerprint == "" || f.Help == "" {
			t.Errorf("%s: missing fix, fingerprint or doc", brief(f))
		}
	}
}

func TestLockfilesAndLicences(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/lockfiles", Deps: true, Licenses: true, Advisories: []string{"testdata/advisories"},
		LicensePolicy: &config.Licenses{Allow: []string{"MIT", "Apache-2.0"}, Deny: []string{"GPL-3.0-only"}}, Now: func() time.Time { return testNow }})
	want := []string{
		"critical GHSA-test-smallvec Cargo.lock:4 1.6.1",
		"high GHSA-test-lodash package-lock.json:7 4.17.21",
		"high GHSA-test-rack Gemfile.lock:4 2.0.8",
		"high license-denied package-lock.json left-pad@1.3.0",
		"medium GHSA-test-jinja requirements.txt:2 2.11.3",
		"medium GHSA-test-urllib3 poetry.lock:1 1.26.5",
		"medium TUG-PARSE-001 bad/package-lock.json:4",
	}
	var got []string
	for _, f := range rep.Findings {
		got = append(got, strings.TrimSpace(brief(f)))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "licences of 6 packages could not be read offline") }) {
		t.Errorf("warnings = %q, want one saying which licences could not be read", rep.Warnings)
	}
	// An npm package whose lockfile names no licence is a finding.
	dir := t.TempDir()
	lock := `{"lockfileVersion": 3, "packages": {"node_modules/x": {"version": "1.0.0"}}}`
	if err := os.WriteFile(filepath.Join(dir, "package-lock.json"), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	rep = run(t, Options{Root: dir, Licenses: true})
	if got := briefs(rep.Findings); !slices.Equal(got, []string{"low license-unknown package-lock.json x@1.0.0"}) {
		t.Errorf("findings = %q", got)
	}
}

func TestMissingAndStaleDatabaseWarn(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/go-reachable", Deps: true})
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "no vulnerability database") {
		t.Errorf("warnings = %v, want one about the missing database", rep.Warnings)
	}
	db := testDB(t)
	rep = run(t, Options{Root: t.TempDir(), Deps: true, DB: db, Now: func() time.Time { return testNow.Add(30 * 24 * time.Hour) }})
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "30 days old") {
		t.Errorf("warnings = %v, want one giving the database's age", rep.Warnings)
	}
}

func TestSuppressions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	df := "FROM alpine:3.19\n" +
		"# tug:ignore TUG-DF-003 until 2027-06-30: the token is a build-only read token\n" +
		"ARG NPM_TOKEN\n" +
		"# tug:ignore TUG-DF-004\n" +
		"ADD https://example.com/a.tgz /a\n" +
		"ADD https://example.com/b.tgz /b # tug:ignore TUG-DF-004 until 2025-01-01: vendor mirror\n" +
		"USER app\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := run(t, Options{Root: dir, IaC: true, Now: func() time.Time { return testNow },
		Ignores: []*config.ScanIgnore{{Rule: "TUG-DF-002", Reason: "x"}}})
	got := briefs(rep.Findings)
	want := []string{
		"medium TUG-DF-004 Dockerfile:5",
		"medium TUG-DF-004 Dockerfile:6",
		"low TUG-SUP-001 Dockerfile:4",
		"low TUG-SUP-001 Dockerfile:6",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings = %q, want %q", got, want)
	}
	// A file suppression by fingerprint, and one that has expired.
	fp := rep.Findings[0].Fingerprint
	rep = run(t, Options{Root: dir, IaC: true, Now: func() time.Time { return testNow },
		Ignores: []*config.ScanIgnore{{Fingerprint: fp, Reason: "x"}, {Rule: "TUG-SUP-001", Reason: "y", Expires: "2026-11-30"}}})
	if slices.Contains(briefs(rep.Findings), want[0]) || !slices.Contains(briefs(rep.Findings), want[3]) {
		t.Errorf("findings = %q", briefs(rep.Findings))
	}
}

func compileSchema(t *testing.T, main string, extra ...string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	for _, name := range append([]string{main}, extra...) {
		f, err := os.Open(filepath.Join("testdata/schema", name))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		id := name
		if m, ok := doc.(map[string]any); ok && m["$id"] != nil && name != main {
			id = m["$id"].(string)
		}
		if err := c.AddResource(id, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(main)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateJSON(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(doc); err != nil {
		t.Errorf("not valid: %v\n%s", err, b)
	}
}

// everyKind is the scan of the fixtures that between them have every
// kind of finding, made once for the output format tests.
var everyKind struct {
	once sync.Once
	rep  *Report
	err  error
}

func findingsOfEveryKind(t *testing.T) *Report {
	t.Helper()
	everyKind.once.Do(func() {
		dbDir, err := os.MkdirTemp("", "tug-scan-test-db-*")
		if err != nil {
			everyKind.err = err
			return
		}
		defer os.RemoveAll(dbDir)
		db, err := BuildDB(filepath.Join(dbDir, "db"), []string{"testdata/advisories"}, "fixtures", testNow)
		if err != nil {
			everyKind.err = err
			return
		}
		rep := &Report{}
		for _, dir := range []string{"testdata/iac", "testdata/lockfiles", "testdata/leaky", "testdata/go-reachable"} {
			o := all(dir, db)
			o.Advisories = []string{"testdata/advisories"}
			r, err := Run(context.Background(), o)
			if err != nil {
				everyKind.err = err
				return
			}
			rep.Findings = append(rep.Findings, r.Findings...)
			rep.Targets = append(rep.Targets, r.Targets...)
		}
		everyKind.rep = rep
	})
	if everyKind.err != nil {
		t.Fatal(everyKind.err)
	}
	return everyKind.rep
}

func TestSARIFIsValid(t *testing.T) {
	t.Parallel()
	rep := findingsOfEveryKind(t)
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, rep, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	validateJSON(t, compileSchema(t, "sarif-schema-2.1.0.json"), buf.Bytes())
	if bytes.Contains(buf.Bytes(), []byte("AKIAQYLPMN5HHHFPZAM2")) {
		t.Error("the SARIF log holds the leaked secret's value")
	}
	var doc struct {
		Runs []struct {
			Results []json.RawMessage `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || len(doc.Runs) != 1 || len(doc.Runs[0].Results) != len(rep.Findings) {
		t.Errorf("SARIF has %v results, want %d (%v)", doc, len(rep.Findings), err)
	}
}

func TestCycloneDXIsValid(t *testing.T) {
	t.Parallel()
	rep := findingsOfEveryKind(t)
	s := compileSchema(t, "bom-1.5.schema.json", "spdx.schema.json", "jsf-0.82.schema.json")
	for _, target := range rep.Targets {
		var buf bytes.Buffer
		if err := WriteCycloneDX(&buf, target, rep.Findings, "v1.2.3", testNow); err != nil {
			t.Fatal(err)
		}
		validateJSON(t, s, buf.Bytes())
		if target.Name == "lockfiles" && !bytes.Contains(buf.Bytes(), []byte("pkg:npm/lodash@4.17.15")) {
			t.Errorf("SBOM lacks lodash:\n%s", buf.Bytes())
		}
	}
}

func TestBaselineFailsOnlyOnNewFindings(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/iac", IaC: true})
	var buf bytes.Buffer
	if err := WriteBaseline(&buf, rep.Findings[:3]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), rep.Findings[0].Rule) || !strings.HasPrefix(buf.String(), "#") {
		t.Errorf("baseline is not reviewable:\n%s", buf.String())
	}
	bl, err := ReadBaseline(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := New(rep.Findings, bl); len(got) != len(rep.Findings)-3 {
		t.Errorf("new = %d, want %d", len(got), len(rep.Findings)-3)
	}
	if _, err := ReadBaseline(strings.NewReader("not-a-fingerprint high x\n")); err == nil {
		t.Error("a broken baseline was accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		eco, a, b string
		want      int
	}{
		{"Go", "v1.2.3", "v1.10.0", -1},
		{"npm", "4.17.15", "4.17.21", -1},
		{"npm", "1.0.0-rc.1", "1.0.0", -1},
		{"PyPI", "2.10", "2.11.3", -1},
		{"PyPI", "1.0rc1", "1.0", -1},
		{"PyPI", "1.0.post1", "1.0", 1},
		{"RubyGems", "2.0.0", "2.0.8", -1},
		{"Debian", "1:1.30.1-6", "1:1.30.1-6+deb11u1", -1},
		{"Debian", "1.0~rc1", "1.0", -1},
		{"Debian", "2:1.0", "1:9.9", 1},
		{"Alpine", "1.36.1-r5", "1.36.1-r15", -1},
		{"crates.io", "1.6.0", "1.6.1", -1},
	} {
		if got := compareVersions(tc.eco, tc.a, tc.b); got != tc.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", tc.eco, tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCVSS3(t *testing.T) {
	t.Parallel()
	for vec, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N": 6.1,
		"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N": 5.5,
	} {
		if got, ok := cvss3Score(vec); !ok || got != want {
			t.Errorf("%s = %v, want %v", vec, got, want)
		}
	}
}

func TestSeverityNames(t *testing.T) {
	t.Parallel()
	for s := Info; s <= Critical; s++ {
		if got, err := ParseSeverity(s.String()); err != nil || got != s {
			t.Errorf("ParseSeverity(%q) = %v, %v", s, got, err)
		}
	}
	if Critical.String() != "critical" || Info.String() != "info" {
		t.Errorf("names: %s, %s", Critical, Info)
	}
}

func TestGoModuleLicences(t *testing.T) {
	t.Parallel()
	rep := run(t, Options{Root: "testdata/golicenses", Licenses: true, ModCache: "testdata/modcache",
		LicensePolicy: &config.Licenses{Allow: []string{"MIT"}}})
	got := briefs(rep.Findings)
	if !slices.Equal(got, []string{"low license-unknown go.mod example.com/oddlib@v1.0.0"}) {
		t.Errorf("findings = %q", got)
	}
	if len(rep.Targets) != 1 || rep.Targets[0].Components[0].License != "MIT" {
		t.Errorf("mitlib's licence was not identified: %+v", rep.Targets)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "1 Go") {
		t.Errorf("warnings = %q, want one about the module not in the cache", rep.Warnings)
	}
	// Denied by policy.
	f := checkLicense(&config.Licenses{Deny: []string{"MIT"}}, rep.Targets[0].Components[0], "go.mod")
	if f == nil || f.Rule != "license-denied" || f.Severity != High {
		t.Errorf("denied licence: %+v", f)
	}
}

func TestSecretsInHistoryAndPathAllowlist(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	key, _ := os.ReadFile("testdata/leaky/config.env")
	os.WriteFile(filepath.Join(dir, "config.env"), key, 0o644)
	git("add", ".")
	git("commit", "-qm", "add config")
	os.WriteFile(filepath.Join(dir, "config.env"), []byte("REGION=eu-west-1\n"), 0o644)
	git("commit", "-qam", "remove the key")

	rep := run(t, Options{Root: dir, Secrets: true})
	if len(rep.Findings) != 0 {
		t.Errorf("working tree: %q, want none", briefs(rep.Findings))
	}
	rep = run(t, Options{Root: dir, Secrets: true, History: true})
	if len(rep.Findings) != 1 || rep.Findings[0].Commit == "" || rep.Findings[0].Rule != "aws-access-token" {
		t.Fatalf("history: %+v", rep.Findings)
	}
	rep = run(t, Options{Root: dir, Secrets: true, History: true, Ignores: []*config.ScanIgnore{{Path: "config.*", Reason: "rotated"}}})
	if len(rep.Findings) != 0 {
		t.Errorf("allowlisted by path, still: %q", briefs(rep.Findings))
	}
}

func TestProgressOnLargeTrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 1200 {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%20))
		os.MkdirAll(sub, 0o755)
		os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.txt", i)), []byte("x\n"), 0o644)
	}
	var max atomic.Int64
	run(t, Options{Root: dir, IaC: true, Progress: func(p Progress) {
		if p.Files > max.Load() {
			max.Store(p.Files)
		}
	}})
	if max.Load() != 1200 {
		t.Errorf("progress reached %d files, want 1200", max.Load())
	}
}

func TestUnparseableGoMod(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/x\n\nrequire (\n\texample.com/y\n)\n"), 0o644)
	rep := run(t, Options{Root: dir, Deps: true, DB: testDB(t)})
	if got := briefs(rep.Findings); len(got) != 1 || !strings.HasPrefix(got[0], "medium TUG-PARSE-001 go.mod:4") {
		t.Errorf("findings = %q", got)
	}
}

func TestOutdatedAsksTheModuleProxy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mod, _ := os.ReadFile("testdata/outdated/go.mod")
	os.WriteFile(filepath.Join(dir, "go.mod"), mod, 0o644)
	proxy, _ := filepath.Abs("testdata/goproxy")
	env := append(os.Environ(), "GOPROXY=file://"+proxy, "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOMODCACHE="+t.TempDir(), "GOTOOLCHAIN=local")
	rep := run(t, Options{Root: dir, Deps: true, Outdated: true, DB: testDB(t), Env: env})
	if got := briefs(rep.Findings); !slices.Equal(got, []string{"info outdated-dependency go.mod:5 v1.2.0"}) {
		t.Errorf("findings = %q (warnings %q)", got, rep.Warnings)
	}
}

func TestSameSecretTwiceIsTwoFindings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, _ := os.ReadFile("testdata/leaky/config.env")
	os.WriteFile(filepath.Join(dir, "a.env"), append(append(key, "# again\n"...), key...), 0o644)
	rep := run(t, Options{Root: dir, Secrets: true})
	if got := briefs(rep.Findings); !slices.Equal(got, []string{"critical aws-access-token a.env:3", "critical aws-access-token a.env:7"}) {
		t.Errorf("findings = %q", got)
	}
}

// TestUpdateDBThroughTheModuleProxy serves a small golang.org/x/vulndb
// from a local module proxy and rebuilds the database from it, as
// `tug scan --update-db` does from the real one.
func TestUpdateDBThroughTheModuleProxy(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "data", "osv"), 0o755)
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module golang.org/x/vulndb\n\ngo 1.22\n"), 0o644)
	rec, _ := os.ReadFile("testdata/advisories/GO-2021-0113.json")
	os.WriteFile(filepath.Join(src, "data", "osv", "GO-2021-0113.json"), rec, 0o644)
	proxy := t.TempDir()
	at := filepath.Join(proxy, "golang.org", "x", "vulndb", "@v")
	os.MkdirAll(at, 0o755)
	const v = "v0.0.0-20261101000000-aaaaaaaaaaaa"
	os.WriteFile(filepath.Join(at, "list"), []byte(v+"\n"), 0o644)
	os.WriteFile(filepath.Join(at, v+".info"), []byte(`{"Version":"`+v+`","Time":"2026-11-01T00:00:00Z"}`), 0o644)
	os.WriteFile(filepath.Join(at, v+".mod"), []byte("module golang.org/x/vulndb\n\ngo 1.22\n"), 0o644)
	zf, err := os.Create(filepath.Join(at, v+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	if err := modzip.CreateFromDir(zf, module.Version{Path: "golang.org/x/vulndb", Version: v}, src); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	env := append(os.Environ(), "GOPROXY=file://"+proxy, "GOSUMDB=off", "GOFLAGS=-modcacherw", "GOMODCACHE="+t.TempDir(), "GOTOOLCHAIN=local")
	dir := filepath.Join(t.TempDir(), "db")
	db, err := UpdateDB(context.Background(), dir, "latest", nil, env, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if db.Meta.Records != 1 || db.Meta.Source != "golang.org/x/vulndb@"+v || !db.Meta.Modified.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("meta = %+v", db.Meta)
	}
	rep := run(t, Options{Root: "testdata/go-reachable", Deps: true, DB: db, Now: func() time.Time { return testNow }})
	if got := briefs(rep.Findings); len(got) != 1 || !strings.HasPrefix(got[0], "high GO-2021-0113") {
		t.Errorf("findings with the updated database = %q", got)
	}
	// A version the proxy does not have changes nothing.
	if _, err := UpdateDB(context.Background(), dir, "v9.9.9", nil, env, testNow); err == nil {
		t.Error("updating to a missing version succeeded")
	}
	if again, err := OpenDB(dir); err != nil || again.Meta.Source != db.Meta.Source {
		t.Errorf("after a failed update: %+v, %v", again, err)
	}
}

func TestApkAndDpkgDatabases(t *testing.T) {
	t.Parallel()
	apk := "C:Q1abc=\nP:musl\nV:1.2.4-r2\no:musl\n\nP:busybox-binsh\nV:1.36.1-r5\no:busybox\n\n"
	got := parseApkInstalled([]byte(apk))
	if len(got) != 2 || got[1].Name != "busybox-binsh" || got[1].Version != "1.36.1-r5" || got[1].Source != "busybox" || got[1].Ecosystem != "Alpine" {
		t.Errorf("apk = %+v", got)
	}
	dpkg := dpkgStatus + "\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\nPackage: libssl3\nStatus: install ok installed\nSource: openssl (3.0.11-1~deb12u2)\nVersion: 3.0.11-1~deb12u2\n"
	deb := parseDpkgStatus([]byte(dpkg), "Debian")
	if len(deb) != 3 || deb[2].Source != "openssl" {
		t.Errorf("dpkg = %+v", deb)
	}
}

// docs/scan-rules.md is generated from Rules; -update rewrites it.
func TestRulesDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# tug scan: infrastructure rules\n\n" +
		"Generated from `internal/scan/rules.go` (run `go test ./internal/scan -run TestRulesDoc -update`).\n" +
		"Suppress one with `# tug:ignore RULE until YYYY-MM-DD: reason` on the finding's line or the line above,\n" +
		"or with `scan.ignore` in tug.yaml.\n")
	for _, r := range Rules() {
		fmt.Fprintf(&b, "\n## %s: %s\n\nSeverity: %s.\n\n%s\n\nFix: %s.\n", r.ID, r.Title, r.Severity, r.Doc, r.Fix)
	}
	p := filepath.Join("..", "..", "docs", "scan-rules.md")
	if *update {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != b.String() {
		t.Errorf("%s is out of date (run with -update): %v", p, err)
	}
	seen := map[string]bool{}
	for _, r := range Rules() {
		if seen[r.ID] || r.Title == "" || r.Doc == "" || r.Fix == "" {
			t.Errorf("rule %s: duplicate or undocumented", r.ID)
		}
		seen[r.ID] = true
	}
}

// A tree inside a .tug directory (a server run's worktree) is scanned;
// a .tug directory inside the tree (tug's state) is not.
func TestSecretsInATreeUnderTugState(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), ".tug", "worktrees", "run-1")
	key, _ := os.ReadFile("testdata/leaky/config.env")
	os.MkdirAll(filepath.Join(root, ".tug"), 0o755)
	os.WriteFile(filepath.Join(root, "config.env"), key, 0o644)
	os.WriteFile(filepath.Join(root, ".tug", "state.env"), key, 0o644)
	for _, r := range []string{root, root + "/"} {
		rep := run(t, Options{Root: r, Secrets: true})
		if got := briefs(rep.Findings); len(got) != 1 || !strings.Contains(got[0], "config.env") {
			t.Errorf("root %s: %q, want config.env's key only", r, got)
		}
	}
}
