package store

import (
	"database/sql"
	"fmt"
	"time"
)

// Statuses the store accepts for runs, jobs and attempts. They match the
// pipeline's statuses by value; the store keeps its own copy so it imports
// no engine package.
const (
	StatusPending     = "pending"
	StatusRunning     = "running"
	StatusSuccess     = "success"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusCached      = "cached"
	StatusCancelled   = "cancelled"
	StatusInterrupted = "interrupted"
	// StatusQueued is a run the server accepted and has not started.
	StatusQueued = "queued"
	// StatusWaiting is a job that waits for a person (a deploy awaiting
	// approval).
	StatusWaiting = "waiting"
)

// Final says whether status ends a run, job or attempt.
func Final(status string) bool {
	switch status {
	case StatusSuccess, StatusFailed, StatusSkipped, StatusCached, StatusCancelled, StatusInterrupted:
		return true
	}
	return false
}

// checkFinal rejects a status that cannot end a run, job or attempt.
func checkFinal(what, status string) error {
	if Final(status) {
		return nil
	}
	return fmt.Errorf("%s: %w: status %q is not a final status", what, ErrInvalid, status)
}

// nanos stores a time as Unix nanoseconds; the zero time is NULL.
func nanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

// fromNanos is nanos' inverse; times come back in UTC.
func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// nullInt stores an optional exit code; nil is NULL.
func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// intPtr is nullInt's inverse.
func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}
