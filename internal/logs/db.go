package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// dbName is the database inside <state>/logs.
const dbName = "logs.db"

const schema = `
CREATE TABLE IF NOT EXISTS lines (
	id       INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: followers resume after it
	ts       INTEGER NOT NULL,                  -- unix nanoseconds
	service  TEXT NOT NULL,
	env      TEXT NOT NULL DEFAULT '',
	release  TEXT NOT NULL DEFAULT '',
	instance TEXT NOT NULL DEFAULT '',
	stream   TEXT NOT NULL,
	text     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_service ON lines(service, id);
CREATE INDEX IF NOT EXISTS lines_stream ON lines(stream, id);
CREATE INDEX IF NOT EXISTS lines_ts ON lines(ts);
CREATE TABLE IF NOT EXISTS sources (
	path     TEXT PRIMARY KEY,
	ino      INTEGER NOT NULL,
	off      INTEGER NOT NULL,
	rot      TEXT NOT NULL,   -- signature of path.1 when last read
	service  TEXT NOT NULL,
	env      TEXT NOT NULL,
	release  TEXT NOT NULL,
	instance TEXT NOT NULL,
	stream   TEXT NOT NULL
);
`

func openDB(ctx context.Context, dir string) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("logs: %w", err)
	}
	p := filepath.Join(dir, dbName)
	db, err := sql.Open("sqlite", p+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("logs: open %s: %w", p, err)
	}
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("logs: open %s: %w", p, err)
	}
	return db, nil
}

// commit stores lines and the new source states in one transaction, so
// offsets never run ahead of or behind the lines they produced. It fills
// in the lines' IDs.
func commit(ctx context.Context, db *sql.DB, lines []Line, srcs []*source) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(lines) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO lines(ts, service, env, release, instance, stream, text) VALUES (?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range lines {
			l := &lines[i]
			res, err := st.ExecContext(ctx, l.Time.UnixNano(), l.Service, l.Environment, l.Release, l.Instance, l.Stream, l.Text)
			if err != nil {
				return err
			}
			l.ID, _ = res.LastInsertId()
		}
	}
	for _, s := range srcs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO sources(path, ino, off, rot, service, env, release, instance, stream)
			VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(path) DO UPDATE SET ino=excluded.ino, off=excluded.off, rot=excluded.rot,
			service=excluded.service, env=excluded.env, release=excluded.release, instance=excluded.instance, stream=excluded.stream`,
			s.path, int64(s.next.ino), s.next.off, s.next.rot, s.attr.Service, s.attr.Environment, s.attr.Release, s.attr.Instance, s.attr.Stream); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// loadSources reads the persisted tail positions.
func loadSources(ctx context.Context, db *sql.DB) (map[string]*source, error) {
	rows, err := db.QueryContext(ctx, `SELECT path, ino, off, rot, service, env, release, instance, stream FROM sources`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*source{}
	for rows.Next() {
		s := &source{}
		var ino int64
		if err := rows.Scan(&s.path, &ino, &s.pos.off, &s.pos.rot, &s.attr.Service, &s.attr.Environment, &s.attr.Release, &s.attr.Instance, &s.attr.Stream); err != nil {
			return nil, err
		}
		s.pos.ino = uint64(ino)
		s.known = true
		out[s.path] = s
	}
	return out, rows.Err()
}

// search returns matching lines oldest first. With newest set it keeps
// the newest q.Limit matches (a search); else the oldest after q.After (a
// follow step).
func search(ctx context.Context, db *sql.DB, q Query, newest bool) ([]Line, error) {
	where, args := "service = ?", []any{q.Service}
	if q.Service == ServiceProxy {
		where, args = "stream = ?", []any{StreamAccess}
	}
	if q.Env != "" {
		where += " AND env = ?"
		args = append(args, q.Env)
	}
	if !q.Since.IsZero() {
		where += " AND ts >= ?"
		args = append(args, q.Since.UnixNano())
	}
	if q.After > 0 {
		where += " AND id > ?"
		args = append(args, q.After)
	}
	if q.until > 0 {
		where += " AND id <= ?"
		args = append(args, q.until)
	}
	order := "ASC"
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	if newest {
		order = "DESC"
	} else {
		limit = int(^uint(0) >> 1)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, ts, service, env, release, instance, stream, text FROM lines WHERE `+where+` ORDER BY id `+order, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Line
	for rows.Next() && len(out) < limit {
		var l Line
		var ts int64
		if err := rows.Scan(&l.ID, &ts, &l.Service, &l.Environment, &l.Release, &l.Instance, &l.Stream, &l.Text); err != nil {
			return nil, err
		}
		if !q.match(&l) {
			continue
		}
		l.Time = time.Unix(0, ts).UTC()
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if newest {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

// prune deletes lines older than cutoff.
func prune(ctx context.Context, db *sql.DB, cutoff time.Time) (int64, error) {
	res, err := db.ExecContext(ctx, `DELETE FROM lines WHERE ts < ?`, cutoff.UnixNano())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// lastTime is the time of the newest stored output line (not access-log
// line) of service's instance; zero if none. It walks the service's index
// from its newest line.
func lastTime(ctx context.Context, db *sql.DB, service, instance string) (time.Time, error) {
	var ts int64
	err := db.QueryRowContext(ctx, `SELECT ts FROM lines WHERE service = ? AND instance = ? AND stream = ? ORDER BY id DESC LIMIT 1`,
		service, instance, StreamStdout).Scan(&ts)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, ts), nil
}
