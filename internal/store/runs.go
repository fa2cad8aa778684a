package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Run is one execution of a pipeline.
type Run struct {
	ID       int64
	Pipeline string
	Status   string
	Branch   string
	Commit   string
	Event    string
	// Trigger says who or what started the run ("cli", "push", a user).
	Trigger    string
	StartedAt  time.Time
	FinishedAt time.Time
	// PID owns the run while it is running; if it dies, the next Open marks
	// the run interrupted.
	PID int
	Dir string
	// Origin says how the run was started: cli (a local `tug run`),
	// manual (`tug run --remote`, the API), push, webhook or schedule.
	Origin string
	Tag    string
	// Repository names the forge repository the commit belongs to
	// ("owner/name"), for commit statuses; "" when unknown.
	Repository string
	// Concurrency is the run's concurrency group ("" for none).
	Concurrency string
	// Request is what a queued run is to do (opaque JSON of its starter).
	Request string
	// Reason says why a run ended as it did when no job says it (its
	// config did not load, a newer run superseded it).
	Reason   string
	QueuedAt time.Time
}

// ListOptions filter ListRuns.
type ListOptions struct {
	// Limit caps the number of runs; 0 or less means all.
	Limit int
	// Pipeline keeps only runs of that pipeline; "" keeps all.
	Pipeline string
}

const runColumns = `id, pipeline, status, branch, commit_sha, event, triggered_by, started_at, finished_at, pid, dir,
	origin, tag, repository, concurrency, request, reason, queued_at`

// CreateRun records r as running and returns its ID. IDs are sequential and
// never reused. r is updated to what was stored: ID set, Status running,
// FinishedAt cleared, a zero StartedAt made now, a zero PID made the Store's.
func (s *Store) CreateRun(ctx context.Context, r *Run) (int64, error) {
	if r == nil || r.Pipeline == "" {
		return 0, fmt.Errorf("store: create run: %w: pipeline name is required", ErrInvalid)
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = s.now()
	}
	if r.PID == 0 {
		r.PID = s.pid
	}
	r.Status = StatusRunning
	r.FinishedAt = time.Time{}
	return s.addRun(ctx, "create", r)
}

// addRun stores r as it is and sets its ID.
func (s *Store) addRun(ctx context.Context, what string, r *Run) (int64, error) {
	var id int64
	err := s.write(ctx, func(tx *txq) error {
		var err error
		id, err = insertRun(ctx, tx, r)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: %s run: %w", what, err)
	}
	r.ID = id
	return id, nil
}

func insertRun(ctx context.Context, tx *txq, r *Run) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO runs
		(pipeline, status, branch, commit_sha, event, triggered_by, started_at, pid, dir,
		 origin, tag, repository, concurrency, request, reason, queued_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Pipeline, r.Status, r.Branch, r.Commit, r.Event, r.Trigger, nanos(r.StartedAt), r.PID, r.Dir,
		r.Origin, r.Tag, r.Repository, r.Concurrency, r.Request, r.Reason, nanos(r.QueuedAt))
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// FinishRun sets a run's final status. Jobs are left as they are: the
// caller finishes them first.
func (s *Store) FinishRun(ctx context.Context, id int64, status string, finished time.Time) error {
	return s.write(ctx, func(tx *txq) error { return finishRun(ctx, tx, id, status, finished) })
}

func finishRun(ctx context.Context, tx *txq, id int64, status string, finished time.Time) error {
	what := fmt.Sprintf("store: finish run %d", id)
	if err := checkFinal(what, status); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ?`,
		status, nanos(finished), id)
	return affected(what, res, err, fmt.Sprintf("run %d", id))
}

// ListRuns returns runs newest first.
func (s *Store) ListRuns(ctx context.Context, opts ListOptions) ([]Run, error) {
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString(`SELECT ` + runColumns + ` FROM runs`)
	if opts.Pipeline != "" {
		q.WriteString(` WHERE pipeline = ?`)
		args = append(args, opts.Pipeline)
	}
	q.WriteString(` ORDER BY id DESC`)
	if opts.Limit > 0 {
		q.WriteString(` LIMIT ?`)
		args = append(args, opts.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list runs: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list runs: %w", err)
	}
	return out, nil
}

// GetRun returns a run and its jobs in plan order.
func (s *Store) GetRun(ctx context.Context, id int64) (*Run, []Job, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: get run %d: %w", id, err)
	}
	jobs, err := s.jobs(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return r, jobs, nil
}

// LatestRun returns the newest run, or ErrNotFound when there is none.
func (s *Store) LatestRun(ctx context.Context) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: latest run: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: latest run: %w", err)
	}
	return r, nil
}

// RunOf returns the newest run of pipeline for the event at branch (or
// tag) and commit that was not cancelled or interrupted, or ErrNotFound:
// a push delivered twice starts it once.
func (s *Store) RunOf(ctx context.Context, pipeline, event, branch, tag, commit string) (*Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs
		WHERE pipeline = ? AND event = ? AND branch = ? AND tag = ? AND commit_sha = ? AND status NOT IN (?, ?)
		ORDER BY id DESC LIMIT 1`, pipeline, event, branch, tag, commit, StatusCancelled, StatusInterrupted))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: run of %s at %s: %w", pipeline, commit, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: run of %s at %s: %w", pipeline, commit, err)
	}
	return r, nil
}

// scanner is one row of *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (*Run, error) {
	var (
		r                 Run
		started, finished sql.NullInt64
	)
	var queued sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Pipeline, &r.Status, &r.Branch, &r.Commit, &r.Event, &r.Trigger,
		&started, &finished, &r.PID, &r.Dir,
		&r.Origin, &r.Tag, &r.Repository, &r.Concurrency, &r.Request, &r.Reason, &queued); err != nil {
		return nil, err
	}
	r.StartedAt, r.FinishedAt, r.QueuedAt = fromNanos(started), fromNanos(finished), fromNanos(queued)
	return &r, nil
}

// affected turns "no row changed" into ErrNotFound naming the missing thing.
func affected(what string, res sql.Result, err error, missing string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %s: %w", what, missing, ErrNotFound)
	}
	return nil
}
