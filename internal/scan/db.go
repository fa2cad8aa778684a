package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// VulnDBModule is the Go module whose data/osv directory holds the Go
// vulnerability database in the OSV schema; tug builds its offline
// database from it.
const VulnDBModule = "golang.org/x/vulndb"

// DefaultStaleAfter is how old a database may be before a scan warns.
const DefaultStaleAfter = 7 * 24 * time.Hour

// ErrNoDB means the vulnerability database has not been built yet.
var ErrNoDB = errors.New("no vulnerability database")

// DBMeta describes a built database (meta.json in its directory).
type DBMeta struct {
	// Source names what it was built from ("golang.org/x/vulndb@v0.0.0-...",
	// or directories).
	Source string `json:"source"`
	// Built is when tug built it; Modified is the newest record's time.
	Built    time.Time `json:"built"`
	Modified time.Time `json:"modified"`
	Records  int       `json:"records"`
}

// DB is an offline vulnerability database: the OSV records of other
// ecosystems under osv/, and the Go records under go/ in the layout
// golang.org/x/vuln reads (index/db.json, index/modules.json, ID/<id>.json).
type DB struct {
	Dir  string
	Meta DBMeta
}

// DefaultDBDir is where the database lives unless configured: one per
// user, shared by projects ($TUG_VULNDB, else the user cache directory).
func DefaultDBDir(lookupEnv func(string) (string, bool)) string {
	if v, ok := lookupEnv("TUG_VULNDB"); ok && v != "" {
		return v
	}
	if v, ok := lookupEnv("XDG_CACHE_HOME"); ok && v != "" {
		return filepath.Join(v, "tug", "vulndb")
	}
	if v, ok := lookupEnv("HOME"); ok && v != "" {
		return filepath.Join(v, ".cache", "tug", "vulndb")
	}
	return filepath.Join(os.TempDir(), "tug-vulndb")
}

// OpenDB reads a built database's metadata; ErrNoDB when there is none.
func OpenDB(dir string) (*DB, error) {
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoDB, dir)
	}
	if err != nil {
		return nil, err
	}
	db := &DB{Dir: dir}
	if err := json.Unmarshal(b, &db.Meta); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "meta.json"), err)
	}
	return db, nil
}

// Age is how long ago the database was built.
func (db *DB) Age(now time.Time) time.Duration { return now.Sub(db.Meta.Built) }

// GoDir is the directory golang.org/x/vuln reads (as a file:// URL).
func (db *DB) GoDir() string { return filepath.Join(db.Dir, "go") }

// load reads the database's records of ecosystems other than Go.
func (db *DB) load(into *advisories, bad func(string, error)) error {
	return loadOSVDir(filepath.Join(db.Dir, "osv"), into, bad)
}

// BuildDB builds a database in dir from the OSV records under srcs,
// replacing what was there only once the new one is complete.
func BuildDB(dir string, srcs []string, source string, now time.Time) (*DB, error) {
	return buildDB(dir, srcs, source, now, time.Time{})
}

// buildDB is BuildDB with the time the source was published (a module
// version's time), which counts as a modification when records carry none.
func buildDB(dir string, srcs []string, source string, now, sourceTime time.Time) (*DB, error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, ".vulndb-build-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"osv", "go/ID", "go/index"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return nil, err
		}
	}
	type modVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
	}
	type modMeta struct {
		Path  string    `json:"path"`
		Vulns []modVuln `json:"vulns"`
	}
	modules := map[string]*modMeta{}
	var order []string
	meta := DBMeta{Source: source, Built: now.UTC(), Modified: sourceTime.UTC()}
	var bad []string
	for _, src := range srcs {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(p, ".json") {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			var o OSV
			if err := json.Unmarshal(b, &o); err != nil || o.ID == "" || strings.ContainsAny(o.ID, `/\`) {
				bad = append(bad, p)
				return nil
			}
			meta.Records++
			changed := o.Modified
			if o.Published.After(changed) {
				changed = o.Published // the Go database leaves modified unset
			}
			if changed.After(meta.Modified) {
				meta.Modified = changed
			}
			goRecord, otherRecord := false, false
			for _, af := range o.Affected {
				if af.Package.Ecosystem != "Go" {
					otherRecord = true
					continue
				}
				goRecord = true
				m := modules[af.Package.Name]
				if m == nil {
					m = &modMeta{Path: af.Package.Name}
					modules[af.Package.Name] = m
					order = append(order, af.Package.Name)
				}
				if len(m.Vulns) == 0 || m.Vulns[len(m.Vulns)-1].ID != o.ID {
					m.Vulns = append(m.Vulns, modVuln{ID: o.ID, Modified: o.Modified})
				}
			}
			// Go records are read by golang.org/x/vuln (source and
			// binaries); the others by tug's own matching, which so never
			// parses the thousands of Go records.
			if otherRecord {
				if err := os.WriteFile(filepath.Join(tmp, "osv", o.ID+".json"), b, 0o644); err != nil {
					return err
				}
			}
			if goRecord {
				return os.WriteFile(filepath.Join(tmp, "go", "ID", o.ID+".json"), b, 0o644)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading advisories in %s: %w", src, err)
		}
	}
	if len(bad) > 0 && meta.Records == 0 {
		return nil, fmt.Errorf("no OSV records in %s (%d files were not OSV)", strings.Join(srcs, ", "), len(bad))
	}
	mods := make([]*modMeta, 0, len(order))
	for _, p := range order {
		mods = append(mods, modules[p])
	}
	for name, v := range map[string]any{
		"go/index/modules.json": mods,
		"go/index/db.json":      map[string]time.Time{"modified": meta.Modified},
		"meta.json":             meta,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	// Swap: the old database stays usable until the rename.
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.Rename(old, dir)
		return nil, err
	}
	_ = os.RemoveAll(old)
	return &DB{Dir: dir, Meta: meta}, nil
}

// UpdateDB fetches golang.org/x/vulndb at version ("latest" by default)
// through the Go module proxy (the go command's own settings: GOPROXY,
// GOFLAGS, the module cache) and rebuilds the database in dir from its
// data/osv directory plus the extra directories.
func UpdateDB(ctx context.Context, dir, version string, extra []string, env []string, now time.Time) (*DB, error) {
	if version == "" {
		version = "latest"
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", VulnDBModule+"@"+version)
	cmd.Env = env
	cmd.Dir = os.TempDir() // outside any module, so no go.mod is touched
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %w: %s", VulnDBModule, version, err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	var mod struct{ Version, Dir, Info, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &mod); err != nil {
		return nil, fmt.Errorf("go mod download: %w", err)
	}
	if mod.Error != "" {
		return nil, fmt.Errorf("go mod download: %s", mod.Error)
	}
	// The Go database's newer records carry no dates: the version's time
	// says how fresh the data is.
	var info struct{ Time time.Time }
	if b, err := os.ReadFile(mod.Info); err == nil {
		_ = json.Unmarshal(b, &info)
	}
	srcs := append([]string{filepath.Join(mod.Dir, "data", "osv")}, extra...)
	return buildDB(dir, srcs, VulnDBModule+"@"+mod.Version, now, info.Time)
}

// ConfigPath resolves a path written in tug.yaml against its directory.
func ConfigPath(c *config.Config, p string) string {
	if p == "" || filepath.IsAbs(p) || c == nil || c.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

// ConfiguredDBDir is the database a scan uses: flag when given, else
// tug.yaml's scan.database, else DefaultDBDir.
func ConfiguredDBDir(c *config.Config, flag string, lookupEnv func(string) (string, bool)) string {
	if flag != "" {
		return flag
	}
	if c != nil && c.Scan != nil && c.Scan.Database != "" {
		return ConfigPath(c, c.Scan.Database)
	}
	return DefaultDBDir(lookupEnv)
}

// ConfiguredOptions are the options tug.yaml sets for every scan: its
// advisories, suppressions, staleness and licence policy.
func ConfiguredOptions(c *config.Config) Options {
	var o Options
	if c == nil {
		return o
	}
	o.LicensePolicy = c.Licenses
	if s := c.Scan; s != nil {
		o.Ignores, o.StaleAfter = s.Ignore, s.StaleAfter.D()
		for _, d := range s.Advisories {
			o.Advisories = append(o.Advisories, ConfigPath(c, d))
		}
	}
	return o
}
