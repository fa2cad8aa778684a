package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// Dir is the state directory's subdirectory this room keeps its files
// in: history, locks, WAL spools, the schedule's last ticks and restic's
// cache.
const Dir = "backups"

// Secrets resolves secret names to values (the server's resolver). It is
// called from any goroutine; ctx bounds it. Missing names are an error
// that names them (secret.ErrMissing).
type Secrets func(ctx context.Context, names []string) (map[string]secret.Value, error)

// Recorder records what backups change (a backup written, a restore into
// a target, a prune, a drill), for the audit log. Record is called once
// per change, after it ended (Outcome says how), on the goroutine that
// did it; implementations must be safe for concurrent use and return
// quickly. ctx is the operation's and may already be done: a record is
// still wanted then.
type Recorder interface {
	Record(ctx context.Context, e Event)
}

// Event is one change for the Recorder. It holds no secret: a database
// URL appears without its password.
type Event struct {
	At       time.Time `json:"at"`
	Action   string    `json:"action"` // backup.run, backup.restore, backup.prune, dr.drill
	Backup   string    `json:"backup,omitempty"`
	Snapshot string    `json:"snapshot,omitempty"`
	Target   string    `json:"target,omitempty"`
	Outcome  string    `json:"outcome"` // ok, failed
	Error    string    `json:"error,omitempty"`
}

// StateSnapshotter takes a consistent copy of the running server's TSDB
// into dir (which does not exist yet). It is called from any goroutine;
// ctx bounds it.
type StateSnapshotter interface {
	SnapshotTSDB(ctx context.Context, dir string) error
}

// Options configure a Manager. StateDir and Secrets are required.
type Options struct {
	// StateDir is tug's state directory (.tug).
	StateDir string
	// ConfigPath is the tug.yaml in force (backed up with tug's state).
	ConfigPath string
	Secrets    Secrets
	// Restic is the restic binary; "" finds restic on PATH.
	Restic string
	// PGBin is the directory of PostgreSQL's programs (pg_dump, initdb,
	// postgres...); "" picks Debian's newest /usr/lib/postgresql/N/bin, or
	// PATH.
	PGBin string
	// Recorder receives the changes made; nil records nothing.
	Recorder Recorder
	// TSDB snapshots the running server's metrics store; nil copies the
	// tsdb directory's files (right when no server writes it).
	TSDB   StateSnapshotter
	Now    func() time.Time
	Logger *slog.Logger
}

// Manager runs the backups of one tug.yaml. Its methods are safe for
// concurrent use; two runs (or restore tests) of the same backup never
// overlap, in this process or another (a file lock).
type Manager struct {
	o   Options
	mu  sync.Mutex
	cfg *config.Config
}

// New returns a Manager for cfg.
func New(cfg *config.Config, o Options) (*Manager, error) {
	if o.StateDir == "" || o.Secrets == nil {
		return nil, errors.New("backup: StateDir and Secrets are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{o: o, cfg: cfg}, nil
}

// SetConfig makes c the config in force (a reload); runs in progress
// finish with the one they started with.
func (m *Manager) SetConfig(c *config.Config) {
	m.mu.Lock()
	m.cfg = c
	m.mu.Unlock()
}

// Config is the config in force.
func (m *Manager) Config() *config.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

// backup looks a backup up by name.
func (m *Manager) backup(name string) (*config.Config, *config.Backup, error) {
	c := m.Config()
	b := c.Backups[name]
	if b == nil {
		names := c.BackupNames()
		if len(names) == 0 {
			return nil, nil, fmt.Errorf("%w %q: tug.yaml declares no backups", ErrUnknown, name)
		}
		return nil, nil, fmt.Errorf("%w %q%s; backups: %s", ErrUnknown, name, kit.DidYouMean(name, names), strings.Join(names, ", "))
	}
	return c, b, nil
}

func (m *Manager) dir(parts ...string) string {
	return filepath.Join(append([]string{m.o.StateDir, Dir}, parts...)...)
}

// lock takes the backup's lock: one run or restore test of a backup at a
// time, across processes. The kernel drops it when its holder dies.
func (m *Manager) lock(name, what string) (*kit.FileLock, error) {
	if err := os.MkdirAll(m.dir("locks"), 0o700); err != nil {
		return nil, err
	}
	l, err := kit.TryLockFile(m.dir("locks", name+".lock"), true)
	if errors.Is(err, kit.ErrLocked) {
		return nil, fmt.Errorf("%w: backup %s is busy (a backup or restore test of it is running); %s waits for the next one", ErrBusy, name, what)
	}
	return l, err
}

// resticBin finds restic.
func (m *Manager) resticBin() (string, error) {
	bin := m.o.Restic
	if bin == "" {
		bin = "restic"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", ErrNoRestic
	}
	return p, nil
}

// CheckRestic says whether restic is there (ErrNoRestic otherwise).
func (m *Manager) CheckRestic() error {
	_, err := m.resticBin()
	return err
}

// pgBin is the path of one of PostgreSQL's programs.
func (m *Manager) pgBin(prog string) (string, error) {
	dir := m.o.PGBin
	if dir == "" {
		dir = debianPGBin()
	}
	if dir != "" {
		p := filepath.Join(dir, prog)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(prog); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (%s not found)", ErrNoPostgres, prog)
}

// debianPGBin is the newest /usr/lib/postgresql/N/bin, or "".
func debianPGBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, vb := versionOf(a), versionOf(b)
		return va - vb
	})
	if len(dirs) == 0 {
		return ""
	}
	return dirs[len(dirs)-1]
}

func versionOf(binDir string) int {
	n := 0
	for _, c := range filepath.Base(filepath.Dir(binDir)) {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// repoFor opens (the description of) a backup's repository with its
// secrets resolved. The masker hides every secret of it in messages.
func (m *Manager) repoFor(ctx context.Context, c *config.Config, b *config.Backup) (*repo, error) {
	bin, err := m.resticBin()
	if err != nil {
		return nil, err
	}
	names := []string{b.PasswordSecret}
	if s := b.To.S3; s != nil {
		names = append(names, s.AccessKeySecret, s.SecretKeySecret)
	}
	vals, err := m.o.Secrets(ctx, names)
	if err != nil {
		return nil, err
	}
	r := &repo{bin: bin, password: vals[b.PasswordSecret], cacheDir: m.dir("cache")}
	list := []secret.Value{vals[b.PasswordSecret]}
	switch {
	case b.To.Path != "":
		r.url = c.Abs(b.To.Path)
	case b.To.S3 != nil:
		s := b.To.S3
		u, err := url.Parse(s.Endpoint)
		if err != nil {
			return nil, fmt.Errorf("%w: to.s3.endpoint: %v", ErrBadRequest, err)
		}
		r.url = "s3:" + u.Scheme + "://" + u.Host + "/" + path(s.Bucket, s.Prefix)
		r.env = []string{
			"AWS_ACCESS_KEY_ID=" + vals[s.AccessKeySecret].Reveal(),
			"AWS_SECRET_ACCESS_KEY=" + vals[s.SecretKeySecret].Reveal(),
		}
		list = append(list, vals[s.AccessKeySecret], vals[s.SecretKeySecret])
	}
	mk, _ := secret.NewMasker(list...)
	r.masker = mk.Mask
	return r, nil
}

// path joins an S3 bucket and prefix.
func path(bucket, prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return bucket
	}
	return bucket + "/" + prefix
}

// childEnv is the environment tug's children start from: enough to run,
// none of the server's own variables (which may hold secrets).
func childEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "USER"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// record hands an event to the Recorder.
func (m *Manager) record(ctx context.Context, e Event, err error) {
	if m.o.Recorder == nil {
		return
	}
	e.At = m.o.Now()
	e.Outcome = "ok"
	if err != nil {
		e.Outcome, e.Error = "failed", err.Error()
	}
	m.o.Recorder.Record(ctx, e)
}

// tags are the restic tags of one backup's snapshots of a kind.
func tags(name, kind string) []string {
	return []string{"tug", "backup:" + name, "kind:" + kind}
}

// Kinds of snapshot.
const (
	kindDump  = "dump"  // a PostgreSQL logical dump
	kindBase  = "base"  // a PostgreSQL base backup (pitr)
	kindWAL   = "wal"   // archived WAL segments (pitr)
	kindFiles = "files" // a directory
	kindState = "state" // tug's own state
)

// mainKind is the kind of snapshot a backup's runs take and restore
// tests restore.
func mainKind(b *config.Backup) string {
	switch b.Kind() {
	case "postgres":
		return kindDump
	case "tug":
		return kindState
	}
	return kindFiles
}
