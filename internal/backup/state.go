package backup

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/tugdev/tug/internal/config"
)

// ConfigFile is where a state snapshot keeps tug.yaml, and Manifest
// what it says about itself.
const (
	ConfigFile   = "tug.yaml"
	ManifestFile = "MANIFEST.json"
)

// Manifest describes a snapshot of tug's state.
type Manifest struct {
	Project string    `json:"project"`
	Time    time.Time `json:"time"`
	// Config is where tug.yaml was, relative to the repository holding
	// it when it is in one.
	Config string `json:"config"`
	// Databases are the SQLite databases copied through the online
	// backup API; Files are the other files, as they were (the secret
	// store stays encrypted).
	Databases []string `json:"databases"`
	Files     int      `json:"files"`
	TSDB      string   `json:"tsdb"` // "snapshot", "copy" or ""
}

// stateSkip are the entries of the state directory a state backup
// leaves out: what is rebuilt (release copies, the job cache, artifacts),
// what only a live process means (sockets, pids, locks, instances'
// logs), the access log (kept by the logs' retention), and this room's
// own files.
func stateSkip(rel string, d fs.DirEntry) bool {
	top, _, _ := strings.Cut(rel, string(filepath.Separator))
	switch top {
	case Dir, "cache", "artifacts", "releases", "instances", "lost+found", "tsdb":
		return true
	}
	if rel == filepath.Join("proxy", "access") || rel == filepath.Join("docker", "tug-init") {
		return true
	}
	if d.Type()&(fs.ModeSocket|fs.ModeNamedPipe|fs.ModeDevice) != 0 {
		return true
	}
	base := d.Name()
	for _, suf := range []string{".sock", ".pid", ".lock", "-wal", "-shm", "-journal"} {
		if strings.HasSuffix(base, suf) {
			return true
		}
	}
	return strings.HasPrefix(base, ".tug-tmp")
}

// backupState stages a consistent copy of tug's state (the SQLite
// databases through the online backup API, a TSDB snapshot, every other
// file as it is) and backs it up.
func (m *Manager) backupState(ctx context.Context, r *repo, c *config.Config, name string, at time.Time) (summary, error) {
	if err := os.MkdirAll(m.dir(), 0o700); err != nil {
		return summary{}, err
	}
	stage, err := os.MkdirTemp(m.dir(), "stage-")
	if err != nil {
		return summary{}, err
	}
	defer os.RemoveAll(stage)
	man, err := m.stageState(ctx, c, stage, at)
	if err != nil {
		return summary{}, err
	}
	b, _ := json.MarshalIndent(man, "", "  ")
	if err := os.WriteFile(filepath.Join(stage, ManifestFile), append(b, '\n'), 0o600); err != nil {
		return summary{}, err
	}
	return r.backupDir(ctx, stage, at, tags(name, kindState))
}

// stageState fills stage with the state's copy.
func (m *Manager) stageState(ctx context.Context, c *config.Config, stage string, at time.Time) (*Manifest, error) {
	man := &Manifest{Project: c.Project, Time: at, Config: ConfigFile}
	src := m.o.StateDir
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // gone while walking (a rotated log)
			}
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if stateSkip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(stage, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".db") {
			if err := sqliteBackup(ctx, p, dst); err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			man.Databases = append(man.Databases, rel)
			return nil
		}
		if err := copyFile(p, dst); err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return fmt.Errorf("%s: %w", rel, err)
		}
		man.Files++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staging tug's state: %w", err)
	}
	if tsdb := filepath.Join(src, "tsdb"); exists(tsdb) {
		if m.o.TSDB != nil {
			if err := m.o.TSDB.SnapshotTSDB(ctx, filepath.Join(stage, "tsdb")); err != nil {
				return nil, fmt.Errorf("TSDB snapshot: %w", err)
			}
			man.TSDB = "snapshot"
		} else {
			if err := copyTree(tsdb, filepath.Join(stage, "tsdb")); err != nil {
				return nil, fmt.Errorf("copying the TSDB: %w", err)
			}
			man.TSDB = "copy"
		}
	}
	if c.File != "" {
		if err := copyFile(c.File, filepath.Join(stage, ConfigFile)); err != nil {
			return nil, fmt.Errorf("tug.yaml: %w", err)
		}
	}
	return man, nil
}

// sqliteBackup copies a live SQLite database through SQLite's online
// backup API: a consistent copy while others write it.
func sqliteBackup(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		b, ok := dc.(interface {
			NewBackup(string) (*sqlite.Backup, error)
		})
		if !ok {
			return fmt.Errorf("the SQLite driver has no online backup")
		}
		bk, err := b.NewBackup(dst)
		if err != nil {
			return err
		}
		for {
			more, err := bk.Step(256)
			if err != nil {
				bk.Finish()
				return err
			}
			if !more {
				break
			}
			if ctx.Err() != nil {
				bk.Finish()
				return ctx.Err()
			}
		}
		return bk.Finish()
	})
}

// integrityCheck runs SQLite's integrity check on a restored database.
func integrityCheck(ctx context.Context, p string) error {
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// copyFile copies one file, keeping its mode.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// copyTree copies a directory's regular files (a TSDB that no process
// writes); lock files are left out.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular() && d.Name() != "lock":
			if err := copyFile(p, target); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		return nil
	})
}
