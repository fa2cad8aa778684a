package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// LogLine is one line of a job's output, already secret-masked by the
// caller.
type LogLine struct {
	Job     string
	Attempt int
	// Seq orders lines within a job. AppendLogs assigns the next number to a
	// line given Seq 0; an explicit Seq must not repeat within the job.
	Seq  int64
	Time time.Time
	Line string
}

// AppendLogs stores a batch of lines in one transaction: either all are
// stored or none. Every line's job must have been recorded by PutJobs.
// lines is not modified.
func (s *Store) AppendLogs(ctx context.Context, runID int64, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *txq) error { return appendLogs(ctx, tx, runID, lines) })
}

func appendLogs(ctx context.Context, tx *txq, runID int64, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	what := fmt.Sprintf("store: append logs to run %d", runID)
	last := map[string]int64{} // job -> highest seq so far
	for _, l := range lines {
		if _, ok := last[l.Job]; ok {
			continue
		}
		if err := jobExists(ctx, tx, what, runID, l.Job); err != nil {
			return err
		}
		var max int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM logs WHERE run_id = ? AND job = ?`,
			runID, l.Job).Scan(&max); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		last[l.Job] = max
	}
	stmt, err := tx.prepare(ctx, `INSERT INTO logs(run_id, job, seq, attempt, ts, line)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	for _, l := range lines {
		seq := l.Seq
		switch {
		case seq < 0:
			return fmt.Errorf("%s: %w: job %q line has negative seq %d", what, ErrInvalid, l.Job, seq)
		case seq == 0:
			seq = last[l.Job] + 1
		}
		last[l.Job] = max(last[l.Job], seq)
		res, err := stmt.ExecContext(ctx, runID, l.Job, seq, l.Attempt, nanos(l.Time), l.Line)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("%s: %w: job %q already has a line with seq %d", what, ErrInvalid, l.Job, seq)
		}
	}
	return nil
}

// Logs returns a run's lines: of one job in seq order, or with job "" of
// every job, in plan order and then seq order.
func (s *Store) Logs(ctx context.Context, runID int64, job string) ([]LogLine, error) {
	what := fmt.Sprintf("store: logs of run %d", runID)
	var (
		rows *sql.Rows
		err  error
	)
	if job == "" {
		if err := runExists(ctx, s.db, what, runID); err != nil {
			return nil, err
		}
		rows, err = s.db.QueryContext(ctx, `SELECT l.job, l.attempt, l.seq, l.ts, l.line
			FROM logs l JOIN jobs j ON j.run_id = l.run_id AND j.name = l.job
			WHERE l.run_id = ? ORDER BY j.ord, l.seq`, runID)
	} else {
		if err := jobExists(ctx, s.db, what, runID, job); err != nil {
			return nil, err
		}
		rows, err = s.db.QueryContext(ctx, `SELECT job, attempt, seq, ts, line
			FROM logs WHERE run_id = ? AND job = ? ORDER BY seq`, runID, job)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return scanLogs(what, rows, nil)
}

// scanLogs reads rows of (job, attempt, seq, ts, line), keeping those
// keep accepts (nil keeps all), and closes rows.
func scanLogs(what string, rows *sql.Rows, keep func(LogLine) bool) ([]LogLine, error) {
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		var (
			l  LogLine
			ts sql.NullInt64
		)
		if err := rows.Scan(&l.Job, &l.Attempt, &l.Seq, &ts, &l.Line); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		l.Time = fromNanos(ts)
		if keep == nil || keep(l) {
			out = append(out, l)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
