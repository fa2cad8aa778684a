package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotQueued means a run the caller meant to start or drop from the
// queue is no longer queued (it started, or was cancelled meanwhile).
var ErrNotQueued = errors.New("run is not queued")

// EnqueueRun records r as queued and returns its ID: the run is in the
// history (`tug runs` shows it) before anything of it starts. r is updated
// to what was stored.
func (s *Store) EnqueueRun(ctx context.Context, r *Run) (int64, error) {
	if r == nil || r.Pipeline == "" {
		return 0, fmt.Errorf("store: enqueue run: %w: pipeline name is required", ErrInvalid)
	}
	if r.QueuedAt.IsZero() {
		r.QueuedAt = s.now()
	}
	r.Status, r.StartedAt, r.FinishedAt, r.PID = StatusQueued, time.Time{}, time.Time{}, 0
	return s.addRun(ctx, "enqueue", r)
}

// QueuedRuns lists the queued runs, oldest first.
func (s *Store) QueuedRuns(ctx context.Context) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE status = 'queued' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: queued runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: queued runs: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// StartQueued moves a queued run to running, owned by this Store's
// process, in dir. ErrNotQueued when it is not queued any more.
func (s *Store) StartQueued(ctx context.Context, id int64, dir string) error {
	return s.write(ctx, func(tx *txq) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, started_at = ?, pid = ?, dir = ?
			WHERE id = ? AND status = ?`, StatusRunning, nanos(s.now()), s.pid, dir, id, StatusQueued)
		if err != nil {
			return fmt.Errorf("store: start run %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: start run %d: %w", id, ErrNotQueued)
		}
		return nil
	})
}

// RequeueRun puts a run the server stopped back in the queue with
// request (what it is to do now) and reason, its jobs, attempts and logs
// dropped for the next start: a run that waited for approval goes on
// after a restart.
func (s *Store) RequeueRun(ctx context.Context, id int64, request, reason string) error {
	return s.write(ctx, func(tx *txq) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE run_id = ?`, id); err != nil {
			return fmt.Errorf("store: requeue run %d: %w", id, err)
		}
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, started_at = NULL, finished_at = NULL, pid = 0, dir = '',
			request = ?, reason = ? WHERE id = ?`, StatusQueued, request, reason, id)
		return affected(fmt.Sprintf("store: requeue run %d", id), res, err, fmt.Sprintf("run %d", id))
	})
}

// CancelQueued ends a queued run as cancelled with reason. ErrNotQueued
// when it is not queued any more.
func (s *Store) CancelQueued(ctx context.Context, id int64, reason string) error {
	return s.write(ctx, func(tx *txq) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?, reason = ?
			WHERE id = ? AND status = ?`, StatusCancelled, nanos(s.now()), reason, id, StatusQueued)
		if err != nil {
			return fmt.Errorf("store: cancel run %d: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("store: cancel run %d: %w", id, ErrNotQueued)
		}
		return nil
	})
}

// SetRunReason records why a run ended as it did, when no job says it.
func (s *Store) SetRunReason(ctx context.Context, id int64, reason string) error {
	return s.write(ctx, func(tx *txq) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET reason = ? WHERE id = ?`, reason, id)
		return affected(fmt.Sprintf("store: run %d reason", id), res, err, fmt.Sprintf("run %d", id))
	})
}

// SetJobStatus marks a started job waiting (for a person) or running
// again, with reason ("" clears it).
func (s *Store) SetJobStatus(ctx context.Context, runID int64, job, status, reason string) error {
	return s.write(ctx, func(tx *txq) error { return setJobStatus(ctx, tx, runID, job, status, reason) })
}

func setJobStatus(ctx context.Context, tx *txq, runID int64, job, status, reason string) error {
	what := fmt.Sprintf("store: status of run %d job %q", runID, job)
	if status != StatusWaiting && status != StatusRunning {
		return fmt.Errorf("%s: %w: status %q: want waiting or running", what, ErrInvalid, status)
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, reason = ? WHERE run_id = ? AND name = ?`,
		status, reason, runID, job)
	return affected(what, res, err, "job")
}

// SetJobStatus is Store.SetJobStatus inside the batch.
func (b *Batch) SetJobStatus(runID int64, job, status, reason string) error {
	return setJobStatus(b.ctx, b.q, runID, job, status, reason)
}

// LogsSince returns the log lines of a run stored after the given
// sequence numbers (per job; a job missing from after starts at 0), in
// the order they were stored per job: what a follower has not seen yet.
func (s *Store) LogsSince(ctx context.Context, runID int64, after map[string]int64) ([]LogLine, error) {
	what := fmt.Sprintf("store: logs of run %d", runID)
	rows, err := s.db.QueryContext(ctx, `SELECT l.job, l.attempt, l.seq, l.ts, l.line
		FROM logs l JOIN jobs j ON j.run_id = l.run_id AND j.name = l.job
		WHERE l.run_id = ? ORDER BY l.ts, j.ord, l.seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return scanLogs(what, rows, func(l LogLine) bool { return l.Seq > after[l.Job] })
}

// WaitingJobs lists the jobs waiting for a person, by run.
func (s *Store) WaitingJobs(ctx context.Context) (map[int64][]Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, name, reason FROM jobs WHERE status = 'waiting'`)
	if err != nil {
		return nil, fmt.Errorf("store: waiting jobs: %w", err)
	}
	defer rows.Close()
	out := map[int64][]Job{}
	for rows.Next() {
		j := Job{Status: StatusWaiting}
		if err := rows.Scan(&j.RunID, &j.Name, &j.Reason); err != nil {
			return nil, fmt.Errorf("store: waiting jobs: %w", err)
		}
		out[j.RunID] = append(out[j.RunID], j)
	}
	return out, rows.Err()
}
