// Package scan is tug's security scanner: leaked secrets (gitleaks' rules),
// vulnerable dependencies against an offline OSV database (Go modules with
// golang.org/x/vuln's reachability analysis; npm, PyPI, crates.io and
// RubyGems lockfiles; the OS packages and Go binaries of container
// images), licences against tug.yaml's policy, and infrastructure files
// (Terraform, Dockerfiles, Compose, Kubernetes manifests, tug.yaml). It
// reports findings with stable fingerprints and writes them as a table,
// JSON, SARIF 2.1.0, CycloneDX SBOMs and reviewable baselines.
//
// The package imports only config from tug; the CLI, pipeline scan jobs
// and the server's rescans of live releases all call Run.
package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Component is one package found while scanning, for the SBOM.
type Component struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	// License is an SPDX expression, "" when unknown or not looked up.
	License string `json:"license,omitempty"`
	// Path is the lockfile, go.mod or binary that names it.
	Path string `json:"path,omitempty"`
	// Source is the source package of an OS package (Debian, Alpine).
	Source string `json:"source,omitempty"`
	Direct bool   `json:"direct,omitempty"`
}

// Target is one thing an SBOM describes: the scanned tree or an image.
type Target struct {
	Name       string      `json:"name"`
	Image      bool        `json:"image,omitempty"`
	Components []Component `json:"components"`
}

// Progress is what a long scan reports while it works.
type Progress struct {
	Phase string
	// Files and Bytes count what has been read so far in this phase.
	Files int64
	Bytes int64
}

// Options say what Run scans. Root is required unless only Images are
// scanned.
type Options struct {
	Root string
	// Which scanners run.
	Secrets, Deps, Licenses, IaC bool
	// History also scans every commit of Root's git repository for secrets.
	History bool
	// Images are local images to scan (OS packages, Go binaries), read
	// through ImageSource.
	Images      []string
	ImageSource ImageSource
	// DB is the offline vulnerability database; nil scans dependencies
	// against Advisories only and warns.
	DB *DB
	// Advisories are more directories of OSV records (any ecosystem).
	Advisories []string
	// StaleAfter is the DB age that earns a warning (default 7 days).
	StaleAfter time.Duration
	// LicensePolicy is tug.yaml's licenses; nil checks only for unknowns.
	LicensePolicy *config.Licenses
	// Ignores are tug.yaml's scan.ignore suppressions.
	Ignores []*config.ScanIgnore
	// Outdated reports direct Go dependencies with newer versions (asks
	// the module proxy through the go command).
	Outdated bool
	// Env is the go command's environment (nil: the process's).
	Env []string
	// ModCache is the Go module cache (default: GOMODCACHE, GOPATH/pkg/mod
	// or ~/go/pkg/mod), where licence files of Go modules are read.
	ModCache string
	Now      func() time.Time
	// Progress, when set, is called as phases start, every few hundred
	// files and twice a second while secrets are searched, possibly from
	// several goroutines at once; it must not block.
	Progress func(Progress)
}

// Report is a scan's result.
type Report struct {
	Findings []Finding `json:"findings"`
	// Warnings say what could not be checked (no database, a stale one,
	// an image not found) — never a silent pass.
	Warnings []string `json:"warnings,omitempty"`
	Targets  []Target `json:"targets,omitempty"`
	DB       *DBMeta  `json:"db,omitempty"`
}

// skipDirs are never walked: version control, tug's state, dependency
// trees that lockfiles already describe.
var skipDirs = []string{".git", ".tug", "node_modules", "vendor", ".hg", ".svn"}

// Run scans as Options say. Problems in scanned files are findings;
// an error means the scan could not run at all (bad root, cancelled).
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StaleAfter <= 0 {
		o.StaleAfter = DefaultStaleAfter
	}
	if o.Env == nil {
		o.Env = os.Environ()
	}
	if o.Progress == nil {
		o.Progress = func(Progress) {}
	}
	rep := &Report{}
	if o.Root != "" {
		abs, err := filepath.Abs(o.Root)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s is not a directory", o.Root)
		}
		o.Root = abs
	}
	var mu sync.Mutex
	add := func(fs ...Finding) {
		mu.Lock()
		rep.Findings = append(rep.Findings, fs...)
		mu.Unlock()
	}
	warn := func(format string, args ...any) {
		mu.Lock()
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(format, args...))
		mu.Unlock()
	}

	adv := &advisories{}
	needAdv := (o.Deps && o.Root != "") || len(o.Images) > 0
	if needAdv {
		if o.DB != nil {
			rep.DB = &o.DB.Meta
			if age := o.DB.Age(o.Now()); age > o.StaleAfter {
				warn("the vulnerability database is %s old (built %s from %s); run `tug scan --update-db`", humanAge(age), o.DB.Meta.Built.Format(time.DateOnly), o.DB.Meta.Source)
			}
			if err := o.DB.load(adv, func(p string, err error) { warn("advisory %s: %v", p, err) }); err != nil {
				warn("reading the vulnerability database: %v", err)
			}
		} else {
			warn("no vulnerability database: Go modules were not checked and other packages only against scan.advisories; run `tug scan --update-db`")
		}
		for _, d := range o.Advisories {
			if err := loadOSVDir(d, adv, func(p string, err error) { warn("advisory %s: %v", p, err) }); err != nil {
				warn("advisories %s: %v", d, err)
			}
		}
	}

	var wg sync.WaitGroup
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	if o.Root != "" && o.Secrets {
		wg.Go(func() {
			o.Progress(Progress{Phase: "secrets"})
			fs, err := scanSecrets(ctx, o.Root, o.History, o.Progress)
			if err != nil {
				if ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				warn("secrets: %v", err)
			}
			add(fs...)
		})
	}
	var tree *treeResult
	if o.Root != "" && (o.Deps || o.IaC || o.Licenses) {
		tr, err := walkTree(ctx, o, adv)
		if err != nil {
			return nil, err
		}
		tree = tr
		add(tr.findings...)
		for _, w := range tr.warnings {
			warn("%s", w)
		}
		if o.Deps {
			for _, m := range tr.goMods {
				if o.DB == nil {
					break
				}
				wg.Go(func() {
					o.Progress(Progress{Phase: "go vulnerabilities " + m.Rel})
					fs, err := govulncheck(ctx, o.DB, o.Env, "source", m.Dir, m.Rel, m.File)
					if err != nil {
						if ctx.Err() != nil {
							fail(ctx.Err())
							return
						}
						warn("%s: %v", m.Rel, err)
						return
					}
					add(fs...)
				})
			}
		}
	}
	if len(o.Images) > 0 {
		if o.ImageSource == nil {
			warn("images were not scanned: no Docker engine")
		} else {
			for _, ref := range o.Images {
				o.Progress(Progress{Phase: "image " + ref})
				t, fs, err := imageFindings(ctx, o, adv, ref)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					warn("image %s: %v", ref, err)
					continue
				}
				add(fs...)
				rep.Targets = append(rep.Targets, *t)
			}
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if tree != nil {
		t := Target{Name: filepath.Base(o.Root), Components: tree.components}
		if o.Licenses {
			o.Progress(Progress{Phase: "licences"})
			fs, ws := licenseFindings(o, t.Components)
			add(fs...)
			for _, w := range ws {
				warn("%s", w)
			}
		}
		if o.Outdated && o.Deps {
			o.Progress(Progress{Phase: "outdated"})
			fs, ws := outdated(ctx, o.Env, tree.goMods)
			add(fs...)
			for _, w := range ws {
				warn("%s", w)
			}
			others := map[string]bool{}
			for _, c := range tree.components {
				if c.Ecosystem != "Go" {
					others[c.Ecosystem] = true
				}
			}
			if len(others) > 0 {
				warn("--outdated checks Go modules only; the %s dependencies were not compared with their registries", strings.Join(slices.Sorted(maps.Keys(others)), ", "))
			}
		}
		rep.Targets = append([]Target{t}, rep.Targets...)
	}
	if tree == nil && o.Root != "" {
		rep.Targets = append([]Target{{Name: filepath.Base(o.Root)}}, rep.Targets...)
	}
	for i := range rep.Findings {
		rep.Findings[i].fingerprint()
	}
	if o.Root != "" {
		rep.Findings = newSuppressor(o.Root, o.Now(), o.Ignores).filter(rep.Findings)
	} else if len(o.Ignores) > 0 {
		rep.Findings = newSuppressor("", o.Now(), o.Ignores).filter(rep.Findings)
	}
	sortFindings(rep.Findings)
	rep.Findings = dedupe(rep.Findings)
	slices.Sort(rep.Warnings)
	rep.Warnings = slices.Compact(rep.Warnings)
	return rep, nil
}

// maxFileRead bounds a lockfile or infrastructure file read whole.
const maxFileRead = 64 << 20

// treeResult is what one walk of the tree found.
type treeResult struct {
	findings   []Finding
	warnings   []string
	components []Component
	goMods     []goModule
}

// walkTree reads lockfiles, go.mod files and infrastructure files under
// the root: one file at a time, so memory stays bounded whatever the
// tree's size.
func walkTree(ctx context.Context, o Options, adv *advisories) (*treeResult, error) {
	res := &treeResult{}
	var files atomic.Int64
	err := filepath.WalkDir(o.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == o.Root {
				return err
			}
			return nil // unreadable: skipped, as gitleaks does
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(o.Root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != o.Root && slices.Contains(skipDirs, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if n := files.Add(1); n%500 == 0 {
			o.Progress(Progress{Phase: "files", Files: n})
		}
		name := d.Name()
		read := func() []byte {
			// One file at a time, and none too big to hold.
			if info, err := d.Info(); err != nil || info.Size() > maxFileRead {
				if err == nil {
					res.warnings = append(res.warnings, fmt.Sprintf("%s: not read, larger than %d MiB", rel, maxFileRead>>20))
				}
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			return b
		}
		// Like the go command, tug takes what is under testdata for test
		// input, not for the project's dependencies.
		inTestdata := strings.Contains("/"+rel, "/testdata/")
		switch {
		case (o.Deps || o.Licenses) && !inTestdata:
			if name == "go.mod" {
				mf, err := readGoMod(p)
				if err != nil {
					var pe *parseError
					if errors.As(err, &pe) {
						res.findings = append(res.findings, parseFinding(rel, pe.Line, pe.Col, pe.Msg))
					}
					break
				}
				res.goMods = append(res.goMods, goModule{Dir: filepath.Dir(p), Rel: rel, File: mf})
				for _, r := range mf.Require {
					res.components = append(res.components, Component{Ecosystem: "Go", Name: r.Mod.Path, Version: r.Mod.Version, Path: rel, Direct: !r.Indirect})
				}
				break
			}
			parse := lockfileParser(name)
			if parse == nil {
				break
			}
			b := read()
			if b == nil {
				break
			}
			deps, err := parse(b)
			if err != nil {
				var pe *parseError
				if errors.As(err, &pe) {
					res.findings = append(res.findings, parseFinding(rel, pe.Line, pe.Col, pe.Msg))
				} else {
					res.findings = append(res.findings, parseFinding(rel, 1, 1, err.Error()))
				}
			}
			for _, dep := range deps {
				res.components = append(res.components, Component{Ecosystem: dep.Ecosystem, Name: dep.Name, Version: dep.Version, Path: rel, Direct: dep.Direct, License: dep.License})
				if !o.Deps {
					continue
				}
				for _, m := range adv.lookup(dep.Ecosystem, dep.Name, dep.Version) {
					f := vulnFinding(m, dep.Ecosystem, dep.Name, dep.Version, rel, Medium)
					f.Line = dep.Line
					res.findings = append(res.findings, f)
				}
			}
		}
		if !o.IaC {
			return nil
		}
		switch {
		case strings.HasSuffix(name, ".tf"):
			if b := read(); b != nil {
				res.findings = append(res.findings, scanTerraform(rel, b)...)
			}
		case isDockerfile(name):
			if b := read(); b != nil {
				res.findings = append(res.findings, scanDockerfile(rel, b)...)
			}
		case isCompose(name):
			if b := read(); b != nil {
				res.findings = append(res.findings, scanCompose(rel, b)...)
			}
		case name == "tug.yaml" || name == "tug.yml":
			if b := read(); b != nil {
				res.findings = append(res.findings, scanTugYAML(rel, b)...)
			}
		case strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"):
			b := read()
			if b == nil || !strings.Contains(string(b), "apiVersion") || !strings.Contains(string(b), "kind") {
				break
			}
			docs, err := yamlDocs(b)
			if err != nil {
				// Only a file that looks like a manifest is reported.
				if strings.Contains(string(b), "\nkind:") || strings.HasPrefix(string(b), "kind:") || strings.HasPrefix(string(b), "apiVersion:") {
					res.findings = append(res.findings, yamlParseFinding(rel, err))
				}
				break
			}
			res.findings = append(res.findings, scanK8s(rel, docs)...)
		}
		return nil
	})
	o.Progress(Progress{Phase: "files", Files: files.Load()})
	return res, err
}

// imageFindings scans one image.
func imageFindings(ctx context.Context, o Options, adv *advisories, ref string) (*Target, []Finding, error) {
	tmp, err := os.MkdirTemp("", "tug-scan-image-*")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	comps, binaries, _, err := scanImage(ctx, o.ImageSource, ref, tmp)
	if err != nil {
		return nil, nil, err
	}
	var out []Finding
	for _, c := range comps {
		if c.Ecosystem == "Go" {
			continue // govulncheck checks the binaries below, with symbols
		}
		ms := adv.lookup(c.Ecosystem, c.Name, c.Version)
		if c.Source != "" && c.Source != c.Name {
			ms = append(ms, adv.lookup(c.Ecosystem, c.Source, c.Version)...)
		}
		for _, m := range ms {
			f := vulnFinding(m, c.Ecosystem, c.Name, c.Version, ref, Medium)
			out = append(out, f)
		}
	}
	if o.DB != nil {
		for p, bin := range binaries {
			fs, err := govulncheck(ctx, o.DB, o.Env, "binary", bin, ref, nil)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			for i := range fs {
				fs[i].Path = ref
				fs[i].Message += " in /" + p
				fs[i].key = p
			}
			out = append(out, fs...)
		}
	}
	return &Target{Name: ref, Image: true, Components: comps}, out, nil
}

// licenseFindings identifies each component's licence and checks it.
func licenseFindings(o Options, comps []Component) (out []Finding, warns []string) {
	pol := o.LicensePolicy
	if pol == nil {
		pol = &config.Licenses{}
	}
	modCache := o.ModCache
	if modCache == "" {
		modCache = goModCache(o.Env)
	}
	l := &licenser{}
	unread := map[string]int{}
	for i := range comps {
		c := &comps[i]
		if c.License == "" {
			switch c.Ecosystem {
			case "Go":
				dir, ok := goModuleDir(modCache, c.Name, c.Version)
				if !ok {
					// Not downloaded: there is no licence file to read.
					unread[c.Ecosystem]++
					continue
				}
				if lic, err := l.identifyDir(dir); err == nil {
					c.License = lic
				}
			case "npm":
				dir := filepath.Join(o.Root, filepath.Dir(filepath.FromSlash(c.Path)), "node_modules", filepath.FromSlash(c.Name))
				if lic, err := l.identifyDir(dir); err == nil {
					c.License = lic
				}
			default:
				// PyPI, crates.io and RubyGems lockfiles name no licence
				// and tug reads no registry for one.
				unread[c.Ecosystem]++
				continue
			}
		}
		if f := checkLicense(pol, *c, c.Path); f != nil {
			out = append(out, *f)
		}
	}
	if n := sumValues(unread); n > 0 {
		var parts []string
		for _, eco := range slices.Sorted(maps.Keys(unread)) {
			parts = append(parts, fmt.Sprintf("%d %s", unread[eco], eco))
		}
		warns = append(warns, fmt.Sprintf("licences of %d packages could not be read offline (%s): their lockfiles name none and no licence file is on disk", n, strings.Join(parts, ", ")))
	}
	return out, warns
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// goModCache finds the module cache from the go command's environment.
func goModCache(env []string) string {
	get := func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if v, ok := strings.CutPrefix(env[i], k+"="); ok {
				return v
			}
		}
		return ""
	}
	if v := get("GOMODCACHE"); v != "" {
		return v
	}
	if v := get("GOPATH"); v != "" {
		return filepath.Join(filepath.SplitList(v)[0], "pkg", "mod")
	}
	if v := get("HOME"); v != "" {
		return filepath.Join(v, "go", "pkg", "mod")
	}
	return ""
}

func humanAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return d.Round(time.Minute).String()
}
