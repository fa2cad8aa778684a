package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
	"github.com/tugdev/tug/internal/scan"
	"github.com/tugdev/tug/internal/store"
)

// scanKinds are the scanners --only chooses from.
var scanKinds = []string{"secrets", "deps", "licenses", "iac"}

type scanFlags struct {
	only       []string
	history    bool
	images     []string
	sarif      string
	sbom       string
	failOn     string
	outdated   bool
	updateDB   bool
	dbVersion  string
	db         string
	advisories []string
	baseline   bool
	release    string
}

func (a *app) newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan [PATH]",
		Short: "Scan for leaked secrets, vulnerable dependencies, licences, images and infrastructure problems",
		Long: "Scans PATH (default: the directory of tug.yaml, or the current directory)\n" +
			"in-process: leaked secrets (gitleaks' rules; --history for git history),\n" +
			"vulnerable dependencies against an offline database (Go modules with\n" +
			"reachability, npm/PyPI/crates.io/RubyGems lockfiles), licences against\n" +
			"tug.yaml's licenses:, infrastructure files, and with --image local images.\n" +
			"Exit 1 when a finding not in the baseline is at or above --fail-on.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runScan(cmd.Context(), args, f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.only, "only", nil, "run only these scanners: "+strings.Join(scanKinds, ", "))
	fl.BoolVar(&f.history, "history", false, "also scan every commit of the git history for secrets")
	fl.StringArrayVar(&f.images, "image", nil, "scan a local image (OS packages, Go binaries); repeatable; nothing is pulled")
	fl.StringVar(&f.sarif, "sarif", "", "write the findings as SARIF 2.1.0 to `FILE`")
	fl.StringVar(&f.sbom, "sbom", "", "write a CycloneDX JSON SBOM to `FILE` (one more per image: FILE with the image's name)")
	fl.StringVar(&f.failOn, "fail-on", "", "exit 1 on a new finding at or above this severity: "+strings.Join(scan.SeverityNames(), ", "))
	fl.BoolVar(&f.outdated, "outdated", false, "also report direct Go dependencies that have newer versions (asks the module proxy)")
	fl.BoolVar(&f.updateDB, "update-db", false, "rebuild the vulnerability database from the newest golang.org/x/vulndb, then exit")
	fl.StringVar(&f.dbVersion, "db-version", "latest", "with --update-db: the golang.org/x/vulndb version to build from")
	fl.StringVar(&f.db, "db", "", "the vulnerability database's directory (default: scan.database, $TUG_VULNDB or the user cache)")
	fl.StringArrayVar(&f.advisories, "advisories", nil, "a directory of OSV records to check besides the database; repeatable")
	fl.BoolVar(&f.baseline, "baseline", false, "record the current findings in the baseline file, so only new ones fail")
	fl.StringVar(&f.release, "release", "", "scan what is deployed: the live releases of `SERVICE`")
	return cmd
}

// scanGCPercent is the collector's target while `tug scan` analyses Go
// dependencies: the reachability analysis type-checks and builds SSA for
// the whole program, a live heap of gigabytes built up in a few
// collections, most of whose CPU goes to marking that heap. At 150 instead
// of 100 the collector marks it fewer times (about a tenth less CPU over
// tug's own repository) for a peak heap within the spread of govulncheck's
// own.
const scanGCPercent = 150

// scanGC sets scanGCPercent unless GOGC is set (then it is the user's
// choice), and returns what restores the previous setting.
func scanGC(lookupEnv func(string) (string, bool)) (restore func()) {
	if _, ok := lookupEnv("GOGC"); ok {
		return func() {}
	}
	old := debug.SetGCPercent(scanGCPercent)
	return func() { debug.SetGCPercent(old) }
}

// scanConfig loads tug.yaml when there is one; a scan needs none.
func (a *app) scanConfig() (*config.Config, string, error) {
	p, err := a.configPath()
	if err != nil {
		if a.file != "" {
			return nil, "", err
		}
		return nil, "", nil
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, "", err
	}
	return cfg, filepath.Dir(p), nil
}

// scanEnv is what tug.yaml says about scanning, shared by `tug scan` and
// scan jobs.
type scanEnv struct {
	cfg *config.Config
	sc  *config.Scan
	// dir is tug.yaml's directory ("" without one).
	dir string
}

func newScanEnv(cfg *config.Config, dir string) scanEnv {
	e := scanEnv{cfg: cfg, sc: &config.Scan{}, dir: dir}
	if cfg != nil && cfg.Scan != nil {
		e.sc = cfg.Scan
	}
	return e
}

// options are the scan options tug.yaml sets.
func (e scanEnv) options(root string) scan.Options {
	o := scan.ConfiguredOptions(e.cfg)
	o.Root = root
	return o
}

// db opens the vulnerability database (nil when none is built yet).
func (e scanEnv) db(flag string, lookupEnv func(string) (string, bool)) (*scan.DB, error) {
	db, err := scan.OpenDB(scan.ConfiguredDBDir(e.cfg, flag, lookupEnv))
	if errors.Is(err, scan.ErrNoDB) {
		return nil, nil
	}
	return db, err
}

// baselinePath is scan.baseline, or the default baseline beside tug.yaml
// (beside root without one).
func (e scanEnv) baselinePath(root string) string { return scan.BaselinePath(e.cfg, e.dir, root) }

// newFindings drops the findings the baseline lists, if there is one.
func newFindings(path string, found []scan.Finding) ([]scan.Finding, error) {
	fresh, err := scan.NotInBaseline(path, found)
	if errors.Is(err, scan.ErrBadBaseline) {
		return nil, badInputf("%v", err)
	}
	return fresh, err
}

func (a *app) runScan(ctx context.Context, args []string, f scanFlags) error {
	cfg, cfgDir, err := a.scanConfig()
	if err != nil {
		return err
	}
	env := newScanEnv(cfg, cfgDir)
	sc := env.sc
	if f.updateDB {
		dir := scan.ConfiguredDBDir(cfg, f.db, a.lookupEnv)
		fmt.Fprintf(a.errOut, "fetching %s@%s through the Go module proxy...\n", scan.VulnDBModule, f.dbVersion)
		db, err := scan.UpdateDB(ctx, dir, f.dbVersion, nil, os.Environ(), time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(a.out, "vulnerability database %s: %d records from %s (newest %s)\n", db.Dir, db.Meta.Records, db.Meta.Source, db.Meta.Modified.Format(time.DateOnly))
		return nil
	}
	failOn := f.failOn
	if failOn == "" {
		failOn = sc.FailOn
	}
	var minSev scan.Severity
	if failOn != "" {
		if minSev, err = scan.ParseSeverity(failOn); err != nil {
			return badInputf("--fail-on: %v", err)
		}
	}
	for _, k := range f.only {
		if !slices.Contains(scanKinds, k) {
			return badInputf("--only: unknown scanner %q%s; choose from %s", k, kit.DidYouMean(k, scanKinds), strings.Join(scanKinds, ", "))
		}
	}
	root := ""
	switch {
	case len(args) == 1:
		root = args[0]
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			return badInputf("%s is not a directory", root)
		}
	case cfgDir != "":
		root = cfgDir
	default:
		if root, err = a.getwd(); err != nil {
			return err
		}
	}
	on := func(k string) bool { return len(f.only) == 0 || slices.Contains(f.only, k) }
	opts := env.options(root)
	opts.Secrets, opts.Deps, opts.IaC = on("secrets"), on("deps"), on("iac")
	opts.Licenses = slices.Contains(f.only, "licenses") || (len(f.only) == 0 && cfg != nil && cfg.Licenses != nil)
	opts.History, opts.Images, opts.Outdated = f.history, f.images, f.outdated
	opts.Advisories = append(opts.Advisories, f.advisories...)
	roots := []string{root}
	if f.release != "" {
		targets, err := a.releaseTargets(ctx, f.release)
		if err != nil {
			return err
		}
		// What is deployed: its dependencies, not the working tree's files.
		opts.Root, opts.Secrets, opts.IaC, opts.History = "", false, false, false
		opts.Images, roots = nil, nil
		for _, t := range targets {
			if t.image != "" {
				opts.Images = append(opts.Images, t.image)
			} else {
				roots = append(roots, t.dir)
			}
		}
	}
	if opts.Deps || len(opts.Images) > 0 {
		if opts.DB, err = env.db(f.db, a.lookupEnv); err != nil {
			return err
		}
	}
	if len(opts.Images) > 0 {
		src, err := scan.NewDockerImages()
		if err != nil {
			return err
		}
		defer src.Close()
		opts.ImageSource = src
	}
	if a.tty && !a.jsonOut {
		var mu sync.Mutex
		opts.Progress = func(p scan.Progress) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case p.Files > 0:
				fmt.Fprintf(a.errOut, "\r\033[Kscanning: %d files", p.Files)
			case p.Bytes > 0:
				fmt.Fprintf(a.errOut, "\r\033[Kscanning for secrets: %d MB read", p.Bytes>>20)
			default:
				fmt.Fprintf(a.errOut, "\r\033[Kscanning: %s", p.Phase)
			}
		}
	}
	if opts.Deps && opts.DB != nil {
		defer scanGC(a.lookupEnv)()
	}
	rep, err := scanRoots(ctx, opts, roots)
	if opts.Progress != nil {
		fmt.Fprint(a.errOut, "\r\033[K")
	}
	if err != nil {
		return err
	}
	version := readBuildInfo().Version
	if f.sarif != "" {
		if err := kit.WriteFileFrom(f.sarif, 0o644, kit.SyncAll, func(w io.Writer) error { return scan.WriteSARIF(w, rep, version) }); err != nil {
			return fmt.Errorf("--sarif: %w", err)
		}
	}
	if f.sbom != "" {
		for i, t := range rep.Targets {
			p := f.sbom
			if i > 0 || (t.Image && opts.Root != "") {
				p = sbomPath(f.sbom, t.Name)
			}
			if err := kit.WriteFileFrom(p, 0o644, kit.SyncAll, func(w io.Writer) error { return scan.WriteCycloneDX(w, t, rep.Findings, version, time.Now()) }); err != nil {
				return fmt.Errorf("--sbom: %w", err)
			}
		}
	}
	blPath := env.baselinePath(root)
	if f.baseline {
		if err := kit.WriteFileFrom(blPath, 0o644, kit.SyncAll, func(w io.Writer) error { return scan.WriteBaseline(w, rep.Findings) }); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
		fmt.Fprintf(a.errOut, "baseline: %d findings recorded in %s\n", len(rep.Findings), a.displayPath(blPath))
	}
	fresh, err := newFindings(blPath, rep.Findings)
	if err != nil {
		return err
	}
	if a.jsonOut {
		b, err := scan.JSON(rep)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.out, string(b))
	} else {
		scan.WriteTable(a.out, rep)
		if n := len(rep.Findings) - len(fresh); n > 0 {
			fmt.Fprintf(a.out, "%d of them are in the baseline %s\n", n, a.displayPath(blPath))
		}
	}
	if failOn != "" {
		if bad := scan.Failing(fresh, minSev); len(bad) > 0 {
			return fmt.Errorf("%w: %d new findings at or above %s", errFailed, len(bad), minSev)
		}
	}
	return nil
}

// scanRoots scans each root (the live releases of every environment) and
// the images once, as one report.
func scanRoots(ctx context.Context, o scan.Options, roots []string) (*scan.Report, error) {
	if len(roots) == 0 {
		return scan.Run(ctx, o)
	}
	all := &scan.Report{}
	for i, r := range roots {
		o.Root = r
		if i > 0 {
			o.Images = nil
		}
		rep, err := scan.Run(ctx, o)
		if err != nil {
			return nil, err
		}
		all.Findings = append(all.Findings, rep.Findings...)
		all.Warnings = append(all.Warnings, rep.Warnings...)
		all.Targets = append(all.Targets, rep.Targets...)
		all.DB = rep.DB
	}
	slices.Sort(all.Warnings)
	all.Warnings = slices.Compact(all.Warnings)
	return all, nil
}

// sbomPath names the SBOM of one image beside the main one:
// sbom.json and image "shop:1" give sbom.shop_1.json.
func sbomPath(base, name string) string {
	ext := filepath.Ext(base)
	clean := strings.Map(func(r rune) rune {
		if r == '/' || r == ':' || r == '@' {
			return '_'
		}
		return r
	}, name)
	return strings.TrimSuffix(base, ext) + "." + clean + ext
}

type releaseTarget struct{ dir, image string }

// releaseTargets finds what is deployed of service: the copy of each live
// release (or its image), from the state directory's history.
func (a *app) releaseTargets(ctx context.Context, service string) ([]releaseTarget, error) {
	st, err := store.Open(ctx, a.stateDir(), store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rels, err := st.ListReleases(ctx, service, "", 200)
	if err != nil {
		return nil, err
	}
	var out []releaseTarget
	for _, r := range rels {
		if r.Status != "live" {
			continue
		}
		switch {
		case r.Digest != "":
			out = append(out, releaseTarget{image: r.Digest})
		case r.Dir != "":
			out = append(out, releaseTarget{dir: r.Dir})
		default:
			out = append(out, releaseTarget{dir: filepath.Join(a.stateDir(), "releases", r.ID)})
		}
	}
	if len(out) == 0 {
		return nil, badInputf("%s has no live release: deploy it with `tug deploy %s`", service, service)
	}
	return out, nil
}

// scanJobs is the pipeline.Scanner of `tug run`.
func (a *app) scanJobs(cfg *config.Config, cfgDir string) pipeline.Scanner {
	return scan.Jobs{Config: cfg, Dir: cfgDir, LookupEnv: a.lookupEnv}
}
