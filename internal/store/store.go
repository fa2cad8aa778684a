// Package store keeps tug's run history (runs, jobs, attempts, logs) in a
// local SQLite database. It imports no other tug package: callers translate
// their own types into the plain records defined here.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"

	"github.com/tugdev/tug/internal/kit"
)

// FileName is the database file created inside the directory given to Open.
const FileName = "tug.db"

// Sentinel errors; every error returned by Store wraps one of these or a
// database error.
var (
	// ErrNotFound means the run, job or attempt named does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means an argument was rejected before touching the database.
	ErrInvalid = errors.New("invalid argument")
)

// Options are Open's dependencies; every field has a usable zero value.
type Options struct {
	// Now is the clock used for timestamps the store fills in itself
	// (interrupted runs, a run created without StartedAt). Default time.Now.
	Now func() time.Time
	// Logger receives notes such as runs found interrupted. Default discards.
	Logger *slog.Logger
	// PID is recorded as the owner of runs created through this Store, so a
	// later Open can tell whether the owner died. Default os.Getpid().
	PID int
	// ProcessAlive reports whether a run's owner is still running.
	// Default: kill(pid, 0) succeeds or fails with EPERM.
	ProcessAlive func(pid int) bool
}

// Store is an open history database. It is safe for concurrent use by
// several goroutines, and several processes may open the same directory.
type Store struct {
	db    *sql.DB
	path  string
	now   func() time.Time
	log   *slog.Logger
	pid   int
	alive func(pid int) bool
}

// Open creates dir (0700) and its database if needed, brings the schema up
// to date, and marks runs whose owner process died as interrupted.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: open: %w: empty directory", ErrInvalid)
	}
	if strings.ContainsAny(dir, "?#") {
		return nil, fmt.Errorf("store: open %s: %w: directory name must not contain '?' or '#'", dir, ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Store{
		path:  filepath.Join(dir, FileName),
		now:   opts.Now,
		log:   opts.Logger,
		pid:   opts.PID,
		alive: opts.ProcessAlive,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.pid == 0 {
		s.pid = os.Getpid()
	}
	if s.alive == nil {
		s.alive = kit.Alive
	}
	// Created private: SQLite would make it 0644, and gives its journal
	// files the database's mode.
	if f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	conn, err := sqlite.NewConnector(dsn(s.path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	db := sql.OpenDB(persistWAL{conn})
	s.db = db
	if err := s.migrate(ctx, migrations()); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if err := s.markInterrupted(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", s.path, err)
	}
	return s, nil
}

// dsn sets the pragmas on every pooled connection. Transactions begin
// IMMEDIATE so concurrent writers wait on busy_timeout instead of failing
// with "database is locked" when a read lock cannot be upgraded.
func dsn(path string) string {
	return path + "?_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=wal_autocheckpoint(" + fmt.Sprint(walAutoCheckpoint) + ")" +
		"&_pragma=foreign_keys(on)" +
		"&_txlock=immediate"
}

// walAutoCheckpoint is how many WAL pages a commit may leave before it
// copies them into the database. Kept small because Detach leaves the WAL
// for the next Open to read back whole.
const walAutoCheckpoint = 256

// persistWAL keeps the WAL file when the last connection closes, so the
// next process reuses it instead of creating it again and fsyncing the
// directory.
type persistWAL struct{ driver.Connector }

// Connect opens a connection with SQLITE_FCNTL_PERSIST_WAL set.
func (p persistWAL) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := p.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	if fc, ok := c.(sqlite.FileControl); ok {
		if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Path is the database file, for messages and diagnostics.
func (s *Store) Path() string { return s.path }

// Close releases the database; the Store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// Detach is Close for a process about to exit: it leaves the connections
// to the exit, so SQLite skips the checkpoint (and its fsyncs) the last
// close would run. Everything committed is in the WAL, which the next Open
// reads back, exactly as after a crash: SQLite is built for that. The
// Store must not be used afterwards, and the process must exit soon: the
// database stays open until it does.
func (s *Store) Detach() {
	// Nothing to do: not calling db.Close is the point. The pool's
	// connections and their locks end with the process.
}

// tx runs fn in one write transaction, committing only if fn succeeds.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
