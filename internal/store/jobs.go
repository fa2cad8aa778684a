package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Job is one job instance of a run.
type Job struct {
	RunID    int64
	Name     string
	Status   string
	Attempts int
	ExitCode *int
	// StartedAt is when the first attempt started; zero if none did.
	StartedAt  time.Time
	FinishedAt time.Time
	Reason     string
	// Detail is opaque JSON the caller attaches when the job finishes
	// (cache decision, report summary); nil when none.
	Detail json.RawMessage
}

// Attempt is one try at running a job.
type Attempt struct {
	RunID      int64
	Job        string
	N          int
	Status     string
	ExitCode   *int
	StartedAt  time.Time
	FinishedAt time.Time
}

// PutJobs records jobs of a run as pending, in plan order. Calling it again
// for the same run appends after the jobs already recorded.
func (s *Store) PutJobs(ctx context.Context, runID int64, names []string) error {
	return s.write(ctx, func(tx *txq) error { return putJobs(ctx, tx, runID, names) })
}

func putJobs(ctx context.Context, tx *txq, runID int64, names []string) error {
	what := fmt.Sprintf("store: put jobs of run %d", runID)
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("%s: %w: job %d has an empty name", what, ErrInvalid, i)
		}
		if seen[n] {
			return fmt.Errorf("%s: %w: job %q listed twice", what, ErrInvalid, n)
		}
		seen[n] = true
	}
	if err := runExists(ctx, tx, what, runID); err != nil {
		return err
	}
	var next int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(ord) + 1, 0) FROM jobs WHERE run_id = ?`, runID).
		Scan(&next); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for i, n := range names {
		res, err := tx.ExecContext(ctx, `INSERT INTO jobs(run_id, name, ord, status) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, runID, n, next+i, StatusPending)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("%s: %w: job %q is already recorded", what, ErrInvalid, n)
		}
	}
	return nil
}

// StartAttempt records attempt n (from 1) of a job as running and marks the
// job running with n attempts.
func (s *Store) StartAttempt(ctx context.Context, runID int64, job string, n int, at time.Time) error {
	return s.write(ctx, func(tx *txq) error { return startAttempt(ctx, tx, runID, job, n, at) })
}

func startAttempt(ctx context.Context, tx *txq, runID int64, job string, n int, at time.Time) error {
	what := fmt.Sprintf("store: start attempt %d of run %d job %q", n, runID, job)
	if n < 1 {
		return fmt.Errorf("%s: %w: attempts count from 1", what, ErrInvalid)
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, attempts = ?,
		started_at = COALESCE(started_at, ?), finished_at = NULL
		WHERE run_id = ? AND name = ?`,
		StatusRunning, n, nanos(at), runID, job)
	if err := affected(what, res, err, "job"); err != nil {
		return err
	}
	res, err = tx.ExecContext(ctx, `INSERT INTO attempts(run_id, job, n, status, started_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		runID, job, n, StatusRunning, nanos(at))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return fmt.Errorf("%s: %w: attempt already started", what, ErrInvalid)
	}
	return nil
}

// FinishAttempt records how attempt n of a job ended. The job itself keeps
// running until FinishJob (a retry may follow).
func (s *Store) FinishAttempt(ctx context.Context, runID int64, job string, n int, status string, exitCode *int, at time.Time) error {
	return s.write(ctx, func(tx *txq) error { return finishAttempt(ctx, tx, runID, job, n, status, exitCode, at) })
}

func finishAttempt(ctx context.Context, tx *txq, runID int64, job string, n int, status string, exitCode *int, at time.Time) error {
	what := fmt.Sprintf("store: finish attempt %d of run %d job %q", n, runID, job)
	if err := checkFinal(what, status); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE attempts SET status = ?, exit_code = ?, finished_at = ?
		WHERE run_id = ? AND job = ? AND n = ?`,
		status, nullInt(exitCode), nanos(at), runID, job, n)
	return affected(what, res, err, "attempt")
}

// FinishJob records a job's final status. detail, if not empty, must be
// valid JSON; it is stored as given.
func (s *Store) FinishJob(ctx context.Context, runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error {
	return s.write(ctx, func(tx *txq) error { return finishJob(ctx, tx, runID, job, status, reason, exitCode, at, detail) })
}

func finishJob(ctx context.Context, tx *txq, runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error {
	what := fmt.Sprintf("store: finish run %d job %q", runID, job)
	if err := checkFinal(what, status); err != nil {
		return err
	}
	var d sql.NullString
	if len(detail) > 0 {
		if !json.Valid(detail) {
			return fmt.Errorf("%s: %w: detail is not valid JSON", what, ErrInvalid)
		}
		d = sql.NullString{String: string(detail), Valid: true}
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, reason = ?, exit_code = ?,
		finished_at = ?, detail = ? WHERE run_id = ? AND name = ?`,
		status, reason, nullInt(exitCode), nanos(at), d, runID, job)
	return affected(what, res, err, "job")
}

// Attempts returns a job's attempts in order.
func (s *Store) Attempts(ctx context.Context, runID int64, job string) ([]Attempt, error) {
	what := fmt.Sprintf("store: attempts of run %d job %q", runID, job)
	if err := jobExists(ctx, s.db, what, runID, job); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT n, status, exit_code, started_at, finished_at
		FROM attempts WHERE run_id = ? AND job = ? ORDER BY n`, runID, job)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Attempt
	for rows.Next() {
		a := Attempt{RunID: runID, Job: job}
		var code, started, finished sql.NullInt64
		if err := rows.Scan(&a.N, &a.Status, &code, &started, &finished); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		a.ExitCode, a.StartedAt, a.FinishedAt = intPtr(code), fromNanos(started), fromNanos(finished)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// jobs returns a run's jobs in plan order.
func (s *Store) jobs(ctx context.Context, runID int64) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, status, attempts, exit_code, started_at, finished_at,
		reason, detail FROM jobs WHERE run_id = ? ORDER BY ord`, runID)
	if err != nil {
		return nil, fmt.Errorf("store: jobs of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j := Job{RunID: runID}
		var (
			code, started, finished sql.NullInt64
			detail                  sql.NullString
		)
		if err := rows.Scan(&j.Name, &j.Status, &j.Attempts, &code, &started, &finished, &j.Reason, &detail); err != nil {
			return nil, fmt.Errorf("store: jobs of run %d: %w", runID, err)
		}
		j.ExitCode, j.StartedAt, j.FinishedAt = intPtr(code), fromNanos(started), fromNanos(finished)
		if detail.Valid {
			j.Detail = json.RawMessage(detail.String)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: jobs of run %d: %w", runID, err)
	}
	return out, nil
}

func runExists(ctx context.Context, q queryer, what string, runID int64) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: run %d: %w", what, runID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func jobExists(ctx context.Context, q queryer, what string, runID int64, job string) error {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE run_id = ? AND name = ?`, runID, job).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		if rerr := runExists(ctx, q, what, runID); rerr != nil {
			return rerr
		}
		return fmt.Errorf("%s: job %q: %w", what, job, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
