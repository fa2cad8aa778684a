package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
)

// RestoreRequest says what to restore where. Exactly one of To or Into.
type RestoreRequest struct {
	// Snapshot is an ID (or prefix); "" or "latest" is the newest.
	Snapshot string
	// To is a directory: a directory backup's files, tug's state, or a
	// database's dump file (with At, a recovered data directory).
	To string
	// Into is a PostgreSQL URL the dump is restored into.
	Into string
	// At restores a pitr database as it was at that moment.
	At time.Time
	// Force allows a target that is not empty, or the live database or
	// directory itself.
	Force    bool
	Progress func(string)
}

// RestoreResult says what was restored where.
type RestoreResult struct {
	Backup       string    `json:"backup"`
	Snapshot     string    `json:"snapshot"`
	SnapshotTime time.Time `json:"snapshot_time"`
	At           time.Time `json:"at,omitzero"`
	// Target is where it went (a URL without its password).
	Target   string  `json:"target"`
	Duration float64 `json:"duration_seconds"`
	Size     int64   `json:"size"`
}

// Restore restores a snapshot into the target the request names. It
// never writes into a target that is not empty, nor into the live
// database or directory of the backup, unless Force says so.
func (m *Manager) Restore(ctx context.Context, name string, q RestoreRequest) (*RestoreResult, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return nil, err
	}
	if err := checkRequest(b, q); err != nil {
		return nil, err
	}
	start := m.o.Now()
	res, target, err := m.restore(ctx, c, name, b, q)
	if res != nil {
		res.Duration = m.o.Now().Sub(start).Seconds()
	}
	ev := Event{Action: "backup.restore", Backup: name, Target: target}
	if res != nil {
		ev.Snapshot = res.Snapshot
	}
	if err == nil || !errors.Is(err, ErrTarget) {
		m.record(ctx, ev, err)
	}
	return res, err
}

// checkRequest refuses requests that cannot apply to the backup.
func checkRequest(b *config.Backup, q RestoreRequest) error {
	switch {
	case q.To == "" && q.Into == "":
		if b.Kind() == "postgres" {
			return fmt.Errorf("%w: say where: --into URL (a database) or --to DIR (the dump file); tug never restores over the live database unless it is named", ErrTarget)
		}
		return fmt.Errorf("%w: say where: --to DIR; tug never restores over the live directory unless it is named", ErrTarget)
	case q.To != "" && q.Into != "":
		return fmt.Errorf("%w: --to and --into conflict: name one target", ErrBadRequest)
	case q.Into != "" && b.Kind() != "postgres":
		return fmt.Errorf("%w: --into restores a database; this backup is of %s (use --to DIR)", ErrBadRequest, b.Kind())
	case !q.At.IsZero() && (b.Postgres == nil || !b.Postgres.PITR):
		return fmt.Errorf("%w: --at needs point-in-time recovery (postgres: {pitr: true}); restore a snapshot instead", ErrBadRequest)
	case !q.At.IsZero() && q.Snapshot != "":
		return fmt.Errorf("%w: --at and a snapshot conflict: --at picks the base backup itself", ErrBadRequest)
	}
	return nil
}

func (m *Manager) restore(ctx context.Context, c *config.Config, name string, b *config.Backup, q RestoreRequest) (*RestoreResult, string, error) {
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return nil, "", err
	}
	if !q.At.IsZero() {
		if err := r.open(ctx, false); err != nil {
			return nil, "", err
		}
		return m.restoreAt(ctx, c, r, name, b, q)
	}
	// pick's listing says when there is no repository yet.
	snap, err := m.pick(ctx, r, name, mainKind(b), q.Snapshot)
	if err != nil {
		return nil, "", err
	}
	res := &RestoreResult{Backup: name, Snapshot: snap.ShortID, SnapshotTime: snap.Time}
	if q.Into != "" {
		target, err := parsePGURL(q.Into)
		if err != nil {
			return nil, "", err
		}
		res.Target = target.String()
		live, err := m.pgSource(ctx, b)
		if err == nil && live.same(target) && !q.Force {
			return nil, res.Target, fmt.Errorf("%w: %s is the live database of backup %s; add --force to restore over it", ErrTarget, res.Target, name)
		}
		empty, err := m.dbEmpty(ctx, target)
		if err != nil {
			return nil, res.Target, err
		}
		if !empty && !q.Force {
			return nil, res.Target, fmt.Errorf("%w: database %s is not empty; restore into an empty one, or add --force to replace the objects the dump holds", ErrTarget, res.Target)
		}
		say(q.Progress, "restoring %s %s into %s", name, snap.ShortID, res.Target)
		res.Size, err = m.restoreDump(ctx, r, snap.ID, name, target, target.dbname, !empty, false)
		return res, res.Target, err
	}
	dir, err := filepath.Abs(q.To)
	if err != nil {
		return nil, "", fmt.Errorf("%w: --to: %v", ErrBadRequest, err)
	}
	res.Target = dir
	if err := m.checkDirTarget(c, b, dir, q.Force); err != nil {
		return nil, dir, err
	}
	if b.Kind() == "postgres" {
		say(q.Progress, "writing the dump of %s %s to %s", name, snap.ShortID, dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, dir, err
		}
		p := filepath.Join(dir, dumpFile(name))
		err := kit.WriteFileFrom(p, 0o600, kit.SyncAll, func(w io.Writer) error {
			cw := &countWriter{w: w}
			err := r.dump(ctx, snap.ID, "/"+dumpFile(name), cw)
			res.Size = cw.n
			return err
		})
		if err == nil {
			say(q.Progress, "restore it with: pg_restore --no-owner -d DATABASE %s", p)
		}
		return res, dir, err
	}
	say(q.Progress, "restoring %s %s into %s", name, snap.ShortID, dir)
	if err := r.restore(ctx, snap.ID, dir); err != nil {
		return res, dir, err
	}
	res.Size = dirSize(dir)
	return res, dir, nil
}

// checkDirTarget refuses a directory that is not empty, or the live one
// (the backed-up directory, or the state directory in use), unless
// forced; a state directory a running server holds is refused always.
func (m *Manager) checkDirTarget(c *config.Config, b *config.Backup, dir string, force bool) error {
	var live string
	switch b.Kind() {
	case "path":
		live = c.Abs(b.Path)
	case "tug":
		live, _ = filepath.Abs(m.o.StateDir)
	}
	if live != "" && sameDir(live, dir) {
		if b.Tug {
			if l, err := kit.TryLockFile(filepath.Join(dir, "server.lock"), true); err != nil {
				return fmt.Errorf("%w: %s is the state directory of a running tug server; stop it first (tug down)", ErrTarget, dir)
			} else {
				l.Unlock()
			}
		}
		if !force {
			return fmt.Errorf("%w: %s is the live directory of backup %s; add --force to restore over it", ErrTarget, dir, b.Kind())
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("%w: %s is not empty; restore into an empty or new directory, or add --force to write over what is there", ErrTarget, dir)
	}
	return nil
}

func sameDir(a, b string) bool {
	ea, err1 := filepath.EvalSymlinks(a)
	eb, err2 := filepath.EvalSymlinks(b)
	if err1 != nil || err2 != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ea == eb
}

// dbEmpty says whether a database holds no relations of its own.
func (m *Manager) dbEmpty(ctx context.Context, conn pgConn) (bool, error) {
	got, err := m.psql(ctx, conn, `select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
		where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'`)
	if err != nil {
		return false, fmt.Errorf("checking that %s is empty: %w", conn, err)
	}
	return got == "0", nil
}

// restoreDump streams a dump from the repository into pg_restore. With
// create, db is created first (through admin); with clean, the objects
// the dump holds are dropped first. One transaction: a failed restore
// leaves the database as it was.
func (m *Manager) restoreDump(ctx context.Context, r *repo, snapID, name string, admin pgConn, db string, clean, create bool) (int64, error) {
	if create {
		if _, err := m.psql(ctx, admin, "create database "+pgIdent(db)); err != nil {
			return 0, fmt.Errorf("creating database %s: %w", db, err)
		}
	}
	target := admin.withDB(db)
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--no-password", "-d", db}
	if clean {
		args = append(args, "--clean", "--if-exists")
	}
	cmd, err := m.pgCommand(ctx, target, "pg_restore", args...)
	if err != nil {
		return 0, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &errb, max: 64 << 10}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	cw := &countWriter{w: in}
	dumpErr := r.dump(ctx, snapID, "/"+dumpFile(name), cw)
	in.Close()
	if dumpErr != nil {
		_ = cmd.Process.Kill()
		cmd.Wait()
		return cw.n, dumpErr
	}
	if err := cmd.Wait(); err != nil {
		return cw.n, fmt.Errorf("pg_restore: %v: %s", err, lastLines(strings.TrimSpace(errb.String()), 6))
	}
	return cw.n, nil
}

// countWriter counts what passes.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
