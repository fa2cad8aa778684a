package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Release is the stored form of one immutable release of a service in one
// environment. Status is the deploy engine's vocabulary; the store keeps it
// as given. Spec is the engine's opaque description (JSON) of how to run
// the release again, Dir the release copy on disk.
type Release struct {
	ID          string
	Service     string
	Environment string
	Revision    string
	Digest      string
	ConfigHash  string
	Who         string
	CreatedAt   time.Time
	FinishedAt  time.Time
	Strategy    string
	Status      string
	Reason      string
	ApprovedBy  string
	ApprovedAt  time.Time
	Dir         string
	Spec        string
}

const releaseColumns = `id, service, environment, revision, digest, config_hash, who, created_at,
	finished_at, strategy, status, reason, approved_by, approved_at, dir, spec`

// CreateRelease stores r under a new ID "r<n>" (sequential, never reused,
// unique across services) and sets r.ID; a zero CreatedAt becomes now.
func (s *Store) CreateRelease(ctx context.Context, r *Release) error {
	if r == nil || r.Service == "" || r.Environment == "" || r.Status == "" {
		return fmt.Errorf("store: create release: %w: service, environment and status are required", ErrInvalid)
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM releases`).Scan(&next); err != nil {
			return err
		}
		id := "r" + strconv.FormatInt(next, 10)
		if _, err := tx.ExecContext(ctx, `INSERT INTO releases (seq, `+releaseColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			next, id, r.Service, r.Environment, r.Revision, r.Digest, r.ConfigHash, r.Who,
			nanos(r.CreatedAt), nanos(r.FinishedAt), r.Strategy, r.Status, r.Reason,
			r.ApprovedBy, nanos(r.ApprovedAt), r.Dir, r.Spec); err != nil {
			return err
		}
		r.ID = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: create release: %w", err)
	}
	return nil
}

// UpdateRelease rewrites the mutable fields of a release (status, reason,
// finish and approval, dir, spec, digest, revision). Identity fields
// (service, environment, created_at) stay as created.
func (s *Store) UpdateRelease(ctx context.Context, r *Release) error {
	what := "store: update release"
	if r == nil || r.ID == "" {
		return fmt.Errorf("%s: %w: release ID is required", what, ErrInvalid)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE releases SET revision = ?, digest = ?, config_hash = ?,
			finished_at = ?, strategy = ?, status = ?, reason = ?, approved_by = ?, approved_at = ?,
			dir = ?, spec = ? WHERE id = ?`,
			r.Revision, r.Digest, r.ConfigHash, nanos(r.FinishedAt), r.Strategy, r.Status, r.Reason,
			r.ApprovedBy, nanos(r.ApprovedAt), r.Dir, r.Spec, r.ID)
		return affected(what, res, err, "release "+r.ID)
	})
}

// GetRelease returns one release by ID; ErrNotFound when there is none.
func (s *Store) GetRelease(ctx context.Context, id string) (*Release, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+releaseColumns+` FROM releases WHERE id = ?`, id)
	r, err := scanRelease(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: release %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: release %s: %w", id, err)
	}
	return r, nil
}

// ListReleases returns releases newest first, of service ("" = all) in
// environment ("" = all), at most limit (0 = all).
func (s *Store) ListReleases(ctx context.Context, service, environment string, limit int) ([]Release, error) {
	q := `SELECT ` + releaseColumns + ` FROM releases WHERE (? = '' OR service = ?) AND (? = '' OR environment = ?) ORDER BY seq DESC`
	args := []any{service, service, environment, environment}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	defer rows.Close()
	var out []Release
	for rows.Next() {
		r, err := scanRelease(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list releases: %w", err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list releases: %w", err)
	}
	return out, nil
}

func scanRelease(sc scanner) (*Release, error) {
	var (
		r                          Release
		created, finished, approve sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Service, &r.Environment, &r.Revision, &r.Digest, &r.ConfigHash, &r.Who,
		&created, &finished, &r.Strategy, &r.Status, &r.Reason, &r.ApprovedBy, &approve, &r.Dir, &r.Spec); err != nil {
		return nil, err
	}
	r.CreatedAt, r.FinishedAt, r.ApprovedAt = fromNanos(created), fromNanos(finished), fromNanos(approve)
	return &r, nil
}

// DeployRecord is one piece of the deploy engine's persisted state: kind
// names what it is ("state", "op"), Data is the engine's JSON.
type DeployRecord struct {
	Kind        string
	Service     string
	Environment string
	Data        []byte
	UpdatedAt   time.Time
}

// PutDeployRecord creates or replaces the record of kind for service and
// environment, durably (committed) before it returns.
func (s *Store) PutDeployRecord(ctx context.Context, kind, service, environment string, data []byte) error {
	if kind == "" || service == "" || environment == "" {
		return fmt.Errorf("store: put deploy record: %w: kind, service and environment are required", ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deploy_records (kind, service, environment, data, updated_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (kind, service, environment) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			kind, service, environment, data, nanos(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put deploy record %s %s/%s: %w", kind, service, environment, err)
	}
	return nil
}

// DeleteDeployRecord removes a record; removing a missing one is no error.
func (s *Store) DeleteDeployRecord(ctx context.Context, kind, service, environment string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM deploy_records WHERE kind = ? AND service = ? AND environment = ?`,
			kind, service, environment)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete deploy record %s %s/%s: %w", kind, service, environment, err)
	}
	return nil
}

// DeployRecords returns every record of kind, ordered by service and
// environment.
func (s *Store) DeployRecords(ctx context.Context, kind string) ([]DeployRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT kind, service, environment, data, updated_at
		FROM deploy_records WHERE kind = ? ORDER BY service, environment`, kind)
	if err != nil {
		return nil, fmt.Errorf("store: deploy records: %w", err)
	}
	defer rows.Close()
	var out []DeployRecord
	for rows.Next() {
		var (
			d  DeployRecord
			up sql.NullInt64
		)
		if err := rows.Scan(&d.Kind, &d.Service, &d.Environment, &d.Data, &up); err != nil {
			return nil, fmt.Errorf("store: deploy records: %w", err)
		}
		d.UpdatedAt = fromNanos(up)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deploy records: %w", err)
	}
	return out, nil
}

// NextCounter atomically sets counter key to max(current+1, atLeast) and
// returns it: a strictly increasing sequence that survives restarts (the
// routing table version).
func (s *Store) NextCounter(ctx context.Context, key string, atLeast int64) (int64, error) {
	var v int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT value FROM deploy_meta WHERE key = ?`, key).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		v = max(cur.Int64+1, atLeast)
		_, err = tx.ExecContext(ctx, `INSERT INTO deploy_meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, v)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: counter %s: %w", key, err)
	}
	return v, nil
}
