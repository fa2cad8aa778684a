package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AlertSilence is a stored silence; Matchers is kept as the alert room
// wrote it.
type AlertSilence struct {
	ID        string
	Matchers  string
	StartsAt  time.Time
	EndsAt    time.Time
	CreatedBy string
	Comment   string
}

// AlertAck is a stored acknowledgement of one alert's firing episode
// (StartsAt).
type AlertAck struct {
	Fingerprint string
	AlertName   string
	StartsAt    time.Time
	By          string
	Comment     string
	At          time.Time
}

// AlertNotification is one notification handed to a channel. Alerts is
// JSON owned by the alert room.
type AlertNotification struct {
	ID       int64
	At       time.Time
	Channel  string
	Kind     string
	GroupKey string
	Status   string
	Outcome  string
	Attempts int
	Error    string
	Alerts   string
}

// SaveAlertSilence inserts s or replaces the silence with its ID.
func (s *Store) SaveAlertSilence(ctx context.Context, sl AlertSilence) error {
	if sl.ID == "" || sl.Matchers == "" || sl.StartsAt.IsZero() || sl.EndsAt.IsZero() {
		return fmt.Errorf("store: save silence: %w: id, matchers, start and end are required", ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_silences (id, matchers, starts_at, ends_at, created_by, comment)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET matchers = excluded.matchers, starts_at = excluded.starts_at,
				ends_at = excluded.ends_at, created_by = excluded.created_by, comment = excluded.comment`,
			sl.ID, sl.Matchers, sl.StartsAt.UnixNano(), sl.EndsAt.UnixNano(), sl.CreatedBy, sl.Comment)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save silence %s: %w", sl.ID, err)
	}
	return nil
}

// AlertSilences lists every silence, expired ones included, by start.
func (s *Store) AlertSilences(ctx context.Context) ([]AlertSilence, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, matchers, starts_at, ends_at, created_by, comment
		FROM alert_silences ORDER BY starts_at, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list silences: %w", err)
	}
	defer rows.Close()
	var out []AlertSilence
	for rows.Next() {
		var sl AlertSilence
		var start, end int64
		if err := rows.Scan(&sl.ID, &sl.Matchers, &start, &end, &sl.CreatedBy, &sl.Comment); err != nil {
			return nil, fmt.Errorf("store: list silences: %w", err)
		}
		sl.StartsAt, sl.EndsAt = time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
		out = append(out, sl)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list silences: %w", err)
	}
	return out, nil
}

// SaveAlertAck inserts a or replaces the ack of its fingerprint.
func (s *Store) SaveAlertAck(ctx context.Context, a AlertAck) error {
	if a.Fingerprint == "" || a.StartsAt.IsZero() {
		return fmt.Errorf("store: save ack: %w: fingerprint and start are required", ErrInvalid)
	}
	at := a.At
	if at.IsZero() {
		at = s.now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alert_acks (fingerprint, alertname, starts_at, acked_by, comment, acked_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT(fingerprint) DO UPDATE SET alertname = excluded.alertname, starts_at = excluded.starts_at,
				acked_by = excluded.acked_by, comment = excluded.comment, acked_at = excluded.acked_at`,
			a.Fingerprint, a.AlertName, a.StartsAt.UnixNano(), a.By, a.Comment, at.UnixNano())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save ack %s: %w", a.Fingerprint, err)
	}
	return nil
}

// DeleteAlertAck removes the ack of a fingerprint; absent is not an error.
func (s *Store) DeleteAlertAck(ctx context.Context, fingerprint string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM alert_acks WHERE fingerprint = ?`, fingerprint)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete ack %s: %w", fingerprint, err)
	}
	return nil
}

// AlertAcks lists every ack.
func (s *Store) AlertAcks(ctx context.Context) ([]AlertAck, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT fingerprint, alertname, starts_at, acked_by, comment, acked_at
		FROM alert_acks ORDER BY fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("store: list acks: %w", err)
	}
	defer rows.Close()
	var out []AlertAck
	for rows.Next() {
		var a AlertAck
		var start, at int64
		if err := rows.Scan(&a.Fingerprint, &a.AlertName, &start, &a.By, &a.Comment, &at); err != nil {
			return nil, fmt.Errorf("store: list acks: %w", err)
		}
		a.StartsAt, a.At = time.Unix(0, start).UTC(), time.Unix(0, at).UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list acks: %w", err)
	}
	return out, nil
}

// AddAlertNotification appends n and returns its ID (sequential).
func (s *Store) AddAlertNotification(ctx context.Context, n AlertNotification) (int64, error) {
	if n.Channel == "" || n.Status == "" || n.Outcome == "" {
		return 0, fmt.Errorf("store: add notification: %w: channel, status and outcome are required", ErrInvalid)
	}
	at := n.At
	if at.IsZero() {
		at = s.now()
	}
	if n.Alerts == "" {
		n.Alerts = "[]"
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO alert_notifications
			(at, channel, kind, group_key, status, outcome, attempts, error, alerts)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			at.UnixNano(), n.Channel, n.Kind, n.GroupKey, n.Status, n.Outcome, n.Attempts, n.Error, n.Alerts)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: add notification: %w", err)
	}
	return id, nil
}

// AlertNotifications lists the newest limit notifications, newest first
// (all when limit <= 0).
func (s *Store) AlertNotifications(ctx context.Context, limit int) ([]AlertNotification, error) {
	q := `SELECT id, at, channel, kind, group_key, status, outcome, attempts, error, alerts
		FROM alert_notifications ORDER BY id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list notifications: %w", err)
	}
	defer rows.Close()
	var out []AlertNotification
	for rows.Next() {
		var n AlertNotification
		var at int64
		if err := rows.Scan(&n.ID, &at, &n.Channel, &n.Kind, &n.GroupKey, &n.Status, &n.Outcome, &n.Attempts, &n.Error, &n.Alerts); err != nil {
			return nil, fmt.Errorf("store: list notifications: %w", err)
		}
		n.At = time.Unix(0, at).UTC()
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list notifications: %w", err)
	}
	return out, nil
}
