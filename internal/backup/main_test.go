package backup

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// The PostgreSQL-backed tests share one cluster (the "production"
// database server), started once, with WAL archiving on; each test
// makes its own databases in it.
var (
	pgOnce    sync.Once
	pgCluster *cluster
	pgWALDir  string
	pgErr     error
	pgState   string
)

func TestMain(m *testing.M) {
	if os.Getenv("TUG_BACKUP_HELPER") != "" {
		helperMain()
		return
	}
	// The tests wait on restic and PostgreSQL, not the CPU: run more of
	// them at once than go test's default of one per core, unless
	// -test.parallel says otherwise.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "8")
	}
	code := m.Run()
	if pgCluster != nil {
		pgCluster.stop()
	}
	os.RemoveAll(pgState)
	os.Exit(code)
}

// needRestic skips a test on a machine without restic (scripts/test.sh
// installs it).
func needRestic(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("restic"); err != nil {
		t.Skip("restic is not installed (scripts/test.sh installs it)")
	}
}

// production starts (once) the shared cluster and returns a URL of a
// new database in it.
func production(t *testing.T, db string) string {
	t.Helper()
	needRestic(t)
	pgOnce.Do(func() {
		pgState, pgErr = os.MkdirTemp("", "tug-backup-test-")
		if pgErr != nil {
			return
		}
		m, err := New(&config.Config{}, Options{StateDir: pgState, Secrets: noSecrets})
		if err != nil {
			pgErr = err
			return
		}
		if _, err := m.pgBin("initdb"); err != nil {
			pgErr = err
			return
		}
		c, err := m.newScratch("test cluster")
		if err != nil {
			pgErr = err
			return
		}
		pgWALDir = filepath.Join(c.dir, "wal")
		if err := os.MkdirAll(pgWALDir, 0o700); err != nil {
			pgErr = err
			return
		}
		if err := c.initdb(context.Background()); err != nil {
			pgErr = err
			return
		}
		if err := c.chown(c.dir); err != nil {
			pgErr = err
			return
		}
		pgErr = c.start(context.Background(), "wal_level=replica", "max_wal_senders=4", "archive_mode=on",
			fmt.Sprintf("archive_command=test ! -f %s/%%f && cp %%p %s/%%f", pgWALDir, pgWALDir))
		pgCluster = c
	})
	if pgErr != nil {
		if strings.Contains(pgErr.Error(), "not installed") {
			t.Skipf("PostgreSQL is not installed: %v", pgErr)
		}
		t.Fatal(pgErr)
	}
	m, _ := New(&config.Config{}, Options{StateDir: pgState, Secrets: noSecrets})
	if _, err := m.psql(context.Background(), pgCluster.conn("postgres"), fmt.Sprintf("create database %q", db)); err != nil {
		t.Fatal(err)
	}
	return pgCluster.URL(db)
}

func noSecrets(context.Context, []string) (map[string]secret.Value, error) {
	return map[string]secret.Value{}, nil
}

// secretsOf resolves from a fixed map.
func secretsOf(vals map[string]string) Secrets {
	return func(_ context.Context, names []string) (map[string]secret.Value, error) {
		out := map[string]secret.Value{}
		var missing []string
		for _, n := range names {
			v, ok := vals[n]
			if !ok {
				missing = append(missing, n)
				continue
			}
			out[n] = secret.New(v)
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("%w: %s", secret.ErrMissing, strings.Join(missing, ", "))
		}
		return out, nil
	}
}

// loadConfig parses a tug.yaml written in dir.
func loadConfig(t *testing.T, dir, yaml string) *config.Config {
	t.Helper()
	p := filepath.Join(dir, "tug.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(p, config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exec runs SQL on a database of the shared cluster.
func sqlOn(t *testing.T, m *Manager, url, query string) string {
	t.Helper()
	conn, err := parsePGURL(url)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.psql(context.Background(), conn, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return got
}

// helperMain is a child process for the kill tests: it runs a restore
// test (or with TUG_BACKUP_HELPER_OP=run a backup, with PostgreSQL's
// programs from TUG_BACKUP_HELPER_PGBIN) of backup db of the project in
// TUG_BACKUP_HELPER, and never returns on its own.
func helperMain() {
	dir := os.Getenv("TUG_BACKUP_HELPER")
	c, err := config.Load(filepath.Join(dir, "tug.yaml"), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	m, _ := New(c, Options{StateDir: filepath.Join(dir, ".tug"), PGBin: os.Getenv("TUG_BACKUP_HELPER_PGBIN"), Secrets: secretsOf(map[string]string{
		"PW": "correct horse battery", "DB_URL": os.Getenv("TUG_BACKUP_HELPER_URL")})})
	if os.Getenv("TUG_BACKUP_HELPER_OP") == "run" {
		_, err = m.Run(context.Background(), "db", RunOptions{})
	} else {
		_, err = m.Verify(context.Background(), "db", VerifyOptions{})
	}
	fmt.Fprintln(os.Stderr, "the helper's backup operation returned", err)
	time.Sleep(time.Hour)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
