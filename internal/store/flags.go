package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// FlagRecord is one piece of the flags room's persisted state: Kind
// names what it is ("override", "ramp"), Data is the room's JSON.
type FlagRecord struct {
	Kind        string
	Flag        string
	Environment string
	Data        []byte
	UpdatedAt   time.Time
}

// FlagChange is one change of a feature flag in one environment: a
// run-time override, a kill, a reset, a ramp's step or halt, or a change
// of tug.yaml. Before and After describe the flag as served (JSON of the
// flags room). Services are the services the flag reaches: a service's
// deploy and incident timelines show the change.
type FlagChange struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	Flag        string    `json:"flag"`
	Environment string    `json:"environment"`
	Services    []string  `json:"services,omitempty"`
	// Kind is set, kill, reset, ramp, halt or config.
	Kind   string `json:"kind"`
	Who    string `json:"who,omitempty"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// FlagChangeQuery selects flag changes; empty fields match everything.
type FlagChangeQuery struct {
	Service     string
	Environment string
	Flag        string
	// Since and Until bound the change's time (Until exclusive).
	Since, Until time.Time
	// Limit keeps the newest that many (0: all).
	Limit int
}

// ChangeFlag records change and, in the same transaction, puts data as
// the record of kind for the change's flag and environment (nil data
// deletes it, and a nil change records nothing): a crash leaves both or
// neither. It fills change.Seq (and change.Time when zero).
func (s *Store) ChangeFlag(ctx context.Context, kind string, data []byte, change *FlagChange) error {
	if change == nil || change.Flag == "" || change.Environment == "" {
		return fmt.Errorf("store: flag change: %w: flag and environment are required", ErrInvalid)
	}
	if change.Time.IsZero() {
		change.Time = s.now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if kind != "" {
			var err error
			if data == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM flag_records WHERE kind = ? AND flag = ? AND environment = ?`,
					kind, change.Flag, change.Environment)
			} else {
				_, err = tx.ExecContext(ctx, `INSERT INTO flag_records (kind, flag, environment, data, updated_at)
					VALUES (?, ?, ?, ?, ?)
					ON CONFLICT (kind, flag, environment) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
					kind, change.Flag, change.Environment, data, nanos(s.now()))
			}
			if err != nil {
				return err
			}
		}
		if change.Kind == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO flag_changes (at, flag, environment, kind, who, before, after, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			nanos(change.Time), change.Flag, change.Environment, change.Kind, change.Who, change.Before, change.After, change.Reason)
		if err != nil {
			return err
		}
		if change.Seq, err = res.LastInsertId(); err != nil {
			return err
		}
		for _, svc := range change.Services {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO flag_change_services (seq, service) VALUES (?, ?)`, change.Seq, svc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: flag change %s/%s: %w", change.Flag, change.Environment, err)
	}
	return nil
}

// FlagRecords returns every record of kind, by flag and environment.
func (s *Store) FlagRecords(ctx context.Context, kind string) ([]FlagRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, flag, environment, data, updated_at
		FROM flag_records WHERE kind = ? ORDER BY flag, environment`, kind)
	if err != nil {
		return nil, fmt.Errorf("store: flag records: %w", err)
	}
	defer rows.Close()
	var out []FlagRecord
	for rows.Next() {
		var (
			r  FlagRecord
			up sql.NullInt64
		)
		if err := rows.Scan(&r.Kind, &r.Flag, &r.Environment, &r.Data, &up); err != nil {
			return nil, fmt.Errorf("store: flag records: %w", err)
		}
		r.UpdatedAt = fromNanos(up)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: flag records: %w", err)
	}
	return out, nil
}

// FlagChanges returns the changes q selects, oldest first (the newest
// q.Limit when it is set).
func (s *Store) FlagChanges(ctx context.Context, q FlagChangeQuery) ([]FlagChange, error) {
	var (
		where []string
		args  []any
	)
	if q.Service != "" {
		where = append(where, `c.seq IN (SELECT seq FROM flag_change_services WHERE service = ?)`)
		args = append(args, q.Service)
	}
	if q.Environment != "" {
		where = append(where, `c.environment = ?`)
		args = append(args, q.Environment)
	}
	if q.Flag != "" {
		where = append(where, `c.flag = ?`)
		args = append(args, q.Flag)
	}
	if !q.Since.IsZero() {
		where = append(where, `c.at >= ?`)
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, `c.at < ?`)
		args = append(args, nanos(q.Until))
	}
	query := `SELECT c.seq, c.at, c.flag, c.environment, c.kind, c.who, c.before, c.after, c.reason,
		COALESCE((SELECT group_concat(service, ',') FROM (SELECT service FROM flag_change_services s WHERE s.seq = c.seq ORDER BY service)), '')
		FROM flag_changes c`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY c.seq DESC"
	if q.Limit > 0 {
		query += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: flag changes: %w", err)
	}
	defer rows.Close()
	var out []FlagChange
	for rows.Next() {
		var (
			c        FlagChange
			at       sql.NullInt64
			services string
		)
		if err := rows.Scan(&c.Seq, &at, &c.Flag, &c.Environment, &c.Kind, &c.Who, &c.Before, &c.After, &c.Reason, &services); err != nil {
			return nil, fmt.Errorf("store: flag changes: %w", err)
		}
		c.Time = fromNanos(at)
		if services != "" {
			c.Services = strings.Split(services, ",")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: flag changes: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
