package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one schema step and the version it records.
type migration struct {
	version int
	sql     string
}

// Each area numbers its steps from its own base, so a step added to one
// area never renumbers another's in databases that already exist.
const (
	runBase      = 0
	deployBase   = 1000
	alertBase    = 2000
	flagBase     = 3000
	incidentBase = 8400 // spaced apart, so areas added side by side never share a number
)

// migrations is the schema history, applied in version order, each in its
// own transaction. Append new entries to an area; never edit or reorder
// existing ones.
func migrations() []migration {
	var all []migration
	all = append(all, numbered(runBase, runMigrations())...)
	all = append(all, numbered(deployBase, deployMigrations())...)
	all = append(all, numbered(alertBase, alertMigrations())...)
	all = append(all, numbered(flagBase, flagMigrations())...)
	all = append(all, numbered(incidentBase, incidentMigrations())...)
	return all
}

func numbered(base int, sqls []string) []migration {
	out := make([]migration, len(sqls))
	for i, q := range sqls {
		out[i] = migration{version: base + i + 1, sql: q}
	}
	return out
}

// runMigrations is the history of the pipeline tables.
func runMigrations() []string {
	return []string{
		// 1: runs, jobs, attempts, logs.
		`
CREATE TABLE runs (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	pipeline     TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	branch       TEXT    NOT NULL DEFAULT '',
	commit_sha   TEXT    NOT NULL DEFAULT '',
	event        TEXT    NOT NULL DEFAULT '',
	triggered_by TEXT    NOT NULL DEFAULT '',
	started_at   INTEGER,
	finished_at  INTEGER,
	pid          INTEGER NOT NULL DEFAULT 0,
	dir          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_pipeline ON runs(pipeline, id);
CREATE INDEX runs_running ON runs(status) WHERE status = 'running';

CREATE TABLE jobs (
	run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	ord         INTEGER NOT NULL,
	status      TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	exit_code   INTEGER,
	started_at  INTEGER,
	finished_at INTEGER,
	reason      TEXT    NOT NULL DEFAULT '',
	detail      TEXT,
	PRIMARY KEY (run_id, name)
) WITHOUT ROWID;
CREATE UNIQUE INDEX jobs_ord ON jobs(run_id, ord);

CREATE TABLE attempts (
	run_id      INTEGER NOT NULL,
	job         TEXT    NOT NULL,
	n           INTEGER NOT NULL,
	status      TEXT    NOT NULL,
	exit_code   INTEGER,
	started_at  INTEGER,
	finished_at INTEGER,
	PRIMARY KEY (run_id, job, n),
	FOREIGN KEY (run_id, job) REFERENCES jobs(run_id, name) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE logs (
	run_id  INTEGER NOT NULL,
	job     TEXT    NOT NULL,
	seq     INTEGER NOT NULL,
	attempt INTEGER NOT NULL DEFAULT 0,
	ts      INTEGER,
	line    TEXT    NOT NULL,
	PRIMARY KEY (run_id, job, seq),
	FOREIGN KEY (run_id, job) REFERENCES jobs(run_id, name) ON DELETE CASCADE
) WITHOUT ROWID;
`,
		// 2: what started a run, the server's queue, concurrency groups.
		`
ALTER TABLE runs ADD COLUMN origin      TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN tag         TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN repository  TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN concurrency TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN request     TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN reason      TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN queued_at   INTEGER;
CREATE INDEX runs_queued ON runs(status) WHERE status = 'queued';
CREATE INDEX jobs_waiting ON jobs(status) WHERE status = 'waiting';
`,
	}
}

// migrate applies the migrations the database lacks. The fast path (an up
// to date database) is one read; the version is re-checked inside each write
// transaction so two processes opening at once apply each step once.
func (s *Store) migrate(ctx context.Context, steps []migration) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at INTEGER NOT NULL
)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied, err := appliedVersions(ctx, s.db)
	if err != nil {
		return err
	}
	known := make(map[int]bool, len(steps))
	for _, m := range steps {
		known[m.version] = true
	}
	for v := range applied {
		if !known[v] {
			return fmt.Errorf("migrate: database schema version %d is newer than this tug knows", v)
		}
	}
	for _, m := range steps {
		if applied[m.version] {
			continue
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil // another process got here first
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migrate to version %d: %w", m.version, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)`,
				m.version, s.now().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
		s.log.Debug("store schema migrated", "version", m.version, "path", s.path)
	}
	return nil
}

// appliedVersions reads which migrations the database has.
func appliedVersions(ctx context.Context, db *sql.DB) (map[int]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read versions: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out[v] = true
	}
	return out, rows.Err()
}

// queryer is the read side shared by *sql.DB and *sql.Tx.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func currentVersion(ctx context.Context, q queryer) (int, error) {
	var v int
	if err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrate: read version: %w", err)
	}
	return v, nil
}
