package store

import (
	"context"
	"database/sql"
	"fmt"
)

// markInterrupted ends every running run whose owner process is gone: the
// run, and its pending or running jobs and running attempts, become
// interrupted at now. The common case (nothing running) is one indexed read.
func (s *Store) markInterrupted(ctx context.Context) error {
	dead, err := s.orphanRuns(ctx)
	if err != nil || len(dead) == 0 {
		return err
	}
	now := nanos(s.now())
	for _, id := range dead {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			// Re-check inside the write lock: another process may have
			// finished or recovered the run since the read above.
			res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ?
				WHERE id = ? AND status = ?`, StatusInterrupted, now, id, StatusRunning)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, finished_at = ?
				WHERE run_id = ? AND status IN (?, ?, ?)`,
				StatusInterrupted, now, id, StatusPending, StatusRunning, StatusWaiting); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `UPDATE attempts SET status = ?, finished_at = ?
				WHERE run_id = ? AND status = ?`, StatusInterrupted, now, id, StatusRunning)
			return err
		})
		if err != nil {
			return fmt.Errorf("mark run %d interrupted: %w", id, err)
		}
		s.log.Info("run interrupted: its tug process is gone", "run", id)
	}
	return nil
}

// orphanRuns lists running runs whose owner is not alive.
func (s *Store) orphanRuns(ctx context.Context) ([]int64, error) {
	// The literal (not a parameter) lets SQLite use the partial index
	// runs_running, so this stays cheap however long the history is.
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid FROM runs WHERE status = 'running'`)
	if err != nil {
		return nil, fmt.Errorf("find interrupted runs: %w", err)
	}
	defer rows.Close()
	var dead []int64
	for rows.Next() {
		var (
			id  int64
			pid int
		)
		if err := rows.Scan(&id, &pid); err != nil {
			return nil, fmt.Errorf("find interrupted runs: %w", err)
		}
		if !s.alive(pid) {
			dead = append(dead, id)
		}
	}
	return dead, rows.Err()
}
