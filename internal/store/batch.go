package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// txq is a write transaction that prepares each statement once however
// often it runs: parsing SQL costs more than the small updates a run
// records. Its statements close with the transaction.
type txq struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (q *txq) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := q.stmts[query]; st != nil {
		return st, nil
	}
	st, err := q.tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if q.stmts == nil {
		q.stmts = map[string]*sql.Stmt{}
	}
	q.stmts[query] = st
	return st, nil
}

// ExecContext runs a statement of the transaction.
func (q *txq) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := q.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowContext reads one row inside the transaction.
func (q *txq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.prepare(ctx, query)
	if err != nil {
		return q.tx.QueryRowContext(ctx, query, args...) // carries the error
	}
	return st.QueryRowContext(ctx, args...)
}

var _ queryer = (*txq)(nil)

// write runs fn in one write transaction, committing only if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(*txq) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return fn(&txq{tx: tx}) })
}

// Batch records several changes in one transaction: one commit for many
// events instead of one each. Its methods are those of Store with the same
// checks; the first error a method returns should be returned by fn,
// which rolls the whole batch back. A Batch is only valid inside fn and
// not safe for concurrent use.
type Batch struct {
	ctx context.Context
	q   *txq
}

// Batch runs fn with a Batch and commits what it recorded if fn returns
// nil; otherwise nothing of it is stored.
func (s *Store) Batch(ctx context.Context, fn func(*Batch) error) error {
	return s.write(ctx, func(q *txq) error { return fn(&Batch{ctx: ctx, q: q}) })
}

// PutJobs is Store.PutJobs inside the batch.
func (b *Batch) PutJobs(runID int64, names []string) error {
	return putJobs(b.ctx, b.q, runID, names)
}

// StartAttempt is Store.StartAttempt inside the batch.
func (b *Batch) StartAttempt(runID int64, job string, n int, at time.Time) error {
	return startAttempt(b.ctx, b.q, runID, job, n, at)
}

// FinishAttempt is Store.FinishAttempt inside the batch.
func (b *Batch) FinishAttempt(runID int64, job string, n int, status string, exitCode *int, at time.Time) error {
	return finishAttempt(b.ctx, b.q, runID, job, n, status, exitCode, at)
}

// FinishJob is Store.FinishJob inside the batch.
func (b *Batch) FinishJob(runID int64, job string, status, reason string, exitCode *int, at time.Time, detail json.RawMessage) error {
	return finishJob(b.ctx, b.q, runID, job, status, reason, exitCode, at, detail)
}

// AppendLogs is Store.AppendLogs inside the batch.
func (b *Batch) AppendLogs(runID int64, lines []LogLine) error {
	return appendLogs(b.ctx, b.q, runID, lines)
}

// FinishRun is Store.FinishRun inside the batch.
func (b *Batch) FinishRun(id int64, status string, finished time.Time) error {
	return finishRun(b.ctx, b.q, id, status, finished)
}
