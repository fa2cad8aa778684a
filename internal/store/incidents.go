package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Incident is a stored incident. State and the times are the incident
// room's lifecycle, kept as columns so lists and metrics can read them;
// Data is the room's JSON.
type Incident struct {
	ID             int64
	Title          string
	Severity       string
	Service        string
	Environment    string
	State          string
	OpenedAt       time.Time
	AcknowledgedAt time.Time
	MitigatedAt    time.Time
	ResolvedAt     time.Time
	ClosedAt       time.Time
	// Level is the escalation level notified last.
	Level int
	Data  string
}

// IncidentEntry is one line of an incident's timeline. A non-empty Key
// makes the entry unique in its incident: adding it again adds nothing.
type IncidentEntry struct {
	IncidentID int64
	Seq        int64
	At         time.Time
	Kind       string
	Key        string
	Text       string
	Data       string
}

// IncidentFilter selects incidents for ListIncidents.
type IncidentFilter struct {
	// States keeps incidents in one of these states (none: every state).
	States []string
	// Service keeps one service's ("" every service).
	Service string
	// Limit keeps the newest Limit (0: all).
	Limit int
}

const incidentColumns = `id, title, severity, service, environment, state, opened_at, acknowledged_at,
	mitigated_at, resolved_at, closed_at, level, data`

// CreateIncident stores inc under a new ID (set in inc) with its first
// timeline entries, in one transaction.
func (s *Store) CreateIncident(ctx context.Context, inc *Incident, entries []IncidentEntry) error {
	if inc == nil || inc.Title == "" || inc.Severity == "" || inc.State == "" || inc.OpenedAt.IsZero() {
		return fmt.Errorf("store: create incident: %w: title, severity, state and opening time are required", ErrInvalid)
	}
	if inc.Data == "" {
		inc.Data = "{}"
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO incidents (title, severity, service, environment, state, opened_at,
			acknowledged_at, mitigated_at, resolved_at, closed_at, level, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			inc.Title, inc.Severity, inc.Service, inc.Environment, inc.State, inc.OpenedAt.UnixNano(),
			nanos(inc.AcknowledgedAt), nanos(inc.MitigatedAt), nanos(inc.ResolvedAt), nanos(inc.ClosedAt), inc.Level, inc.Data)
		if err != nil {
			return err
		}
		if inc.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = addEntries(ctx, tx, inc.ID, entries)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create incident: %w", err)
	}
	return nil
}

// UpdateIncident reads incident id, lets fn change it and name timeline
// entries to add, and writes both, in one transaction: concurrent updates
// of one incident (from this process or another) run one after the other,
// each seeing the last one's result. An error from fn changes nothing and
// is returned as is.
func (s *Store) UpdateIncident(ctx context.Context, id int64, fn func(inc *Incident) ([]IncidentEntry, error)) (*Incident, error) {
	var out *Incident
	err := s.tx(ctx, func(tx *sql.Tx) error {
		inc, err := scanIncident(tx.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: incident %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: incident %d: %w", id, err)
		}
		entries, err := fn(inc)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET title = ?, severity = ?, service = ?, environment = ?,
			state = ?, acknowledged_at = ?, mitigated_at = ?, resolved_at = ?, closed_at = ?, level = ?, data = ? WHERE id = ?`,
			inc.Title, inc.Severity, inc.Service, inc.Environment, inc.State, nanos(inc.AcknowledgedAt),
			nanos(inc.MitigatedAt), nanos(inc.ResolvedAt), nanos(inc.ClosedAt), inc.Level, inc.Data, id); err != nil {
			return fmt.Errorf("store: update incident %d: %w", id, err)
		}
		if _, err := addEntries(ctx, tx, id, entries); err != nil {
			return fmt.Errorf("store: update incident %d: %w", id, err)
		}
		out = inc
		return nil
	})
	return out, err
}

// AddIncidentEntries appends entries to incident id's timeline and says
// how many were new (entries whose key is there already are skipped).
func (s *Store) AddIncidentEntries(ctx context.Context, id int64, entries []IncidentEntry) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM incidents WHERE id = ?`, id).Scan(&exists); err != nil {
			return err
		}
		if exists == 0 {
			return fmt.Errorf("incident %d: %w", id, ErrNotFound)
		}
		var err error
		n, err = addEntries(ctx, tx, id, entries)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: add incident entries: %w", err)
	}
	return n, nil
}

// addEntries appends entries after the incident's last seq.
func addEntries(ctx context.Context, tx *sql.Tx, id int64, entries []IncidentEntry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM incident_entries WHERE incident_id = ?`, id).Scan(&seq); err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.Kind == "" || e.At.IsZero() {
			return n, fmt.Errorf("%w: a timeline entry needs a kind and a time", ErrInvalid)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO incident_entries (incident_id, seq, at, kind, key, text, data)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, id, seq+1, e.At.UnixNano(), e.Kind, e.Key, e.Text, e.Data)
		if err != nil {
			return n, err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			seq++
			n++
		}
	}
	return n, nil
}

// GetIncident returns one incident; ErrNotFound when there is none.
func (s *Store) GetIncident(ctx context.Context, id int64) (*Incident, error) {
	inc, err := scanIncident(s.db.QueryRowContext(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: incident %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	return inc, nil
}

// ListIncidents returns the incidents f selects, newest first.
func (s *Store) ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents WHERE (? = '' OR service = ?)`
	args := []any{f.Service, f.Service}
	if len(f.States) > 0 {
		q += ` AND state IN (?` + repeatMark(len(f.States)-1) + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	q += ` ORDER BY id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list incidents: %w", err)
		}
		out = append(out, *inc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	return out, nil
}

func repeatMark(n int) string {
	out := ""
	for range n {
		out += ", ?"
	}
	return out
}

// IncidentEntries returns an incident's timeline by time, then by order
// of insertion.
func (s *Store) IncidentEntries(ctx context.Context, id int64) ([]IncidentEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT incident_id, seq, at, kind, key, text, data FROM incident_entries
		WHERE incident_id = ? ORDER BY at, seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d timeline: %w", id, err)
	}
	defer rows.Close()
	var out []IncidentEntry
	for rows.Next() {
		var e IncidentEntry
		var at int64
		if err := rows.Scan(&e.IncidentID, &e.Seq, &at, &e.Kind, &e.Key, &e.Text, &e.Data); err != nil {
			return nil, fmt.Errorf("store: incident %d timeline: %w", id, err)
		}
		e.At = time.Unix(0, at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident %d timeline: %w", id, err)
	}
	return out, nil
}

func scanIncident(sc scanner) (*Incident, error) {
	var (
		inc                      Incident
		opened                   int64
		acked, mitigated, solved sql.NullInt64
		closed                   sql.NullInt64
	)
	if err := sc.Scan(&inc.ID, &inc.Title, &inc.Severity, &inc.Service, &inc.Environment, &inc.State, &opened,
		&acked, &mitigated, &solved, &closed, &inc.Level, &inc.Data); err != nil {
		return nil, err
	}
	inc.OpenedAt = time.Unix(0, opened).UTC()
	inc.AcknowledgedAt, inc.MitigatedAt, inc.ResolvedAt, inc.ClosedAt = fromNanos(acked), fromNanos(mitigated), fromNanos(solved), fromNanos(closed)
	return &inc, nil
}

// IncidentAction is something done or proposed about a service because
// of an incident (remediation) or by a runbook step: its status moves from
// running to its outcome.
type IncidentAction struct {
	ID          int64
	IncidentID  int64
	Service     string
	Environment string
	Action      string
	Mode        string
	Who         string
	At          time.Time
	Status      string
	Data        string
}

// IncidentActionFilter selects actions for IncidentActions.
type IncidentActionFilter struct {
	IncidentID int64  // 0: any
	Service    string // "": any
	Action     string // "": any
	Mode       string // "": any
	// Since keeps actions at or after it (zero: all).
	Since time.Time
	// Statuses keeps actions in one of these (none: any).
	Statuses []string
}

// AddIncidentAction stores a under a new ID (set in a).
func (s *Store) AddIncidentAction(ctx context.Context, a *IncidentAction) error {
	if a == nil || a.Service == "" || a.Action == "" || a.Mode == "" || a.Status == "" || a.At.IsZero() {
		return fmt.Errorf("store: add incident action: %w: service, action, mode, status and time are required", ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO incident_actions (incident_id, service, environment, action, mode, who, at, status, data)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.IncidentID, a.Service, a.Environment, a.Action, a.Mode, a.Who, a.At.UnixNano(), a.Status, a.Data)
		if err != nil {
			return err
		}
		a.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: add incident action: %w", err)
	}
	return nil
}

// SetIncidentActionStatus records an action's outcome.
func (s *Store) SetIncidentActionStatus(ctx context.Context, id int64, status, data string) error {
	what := "store: incident action status"
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE incident_actions SET status = ?, data = ? WHERE id = ?`, status, data, id)
		return affected(what, res, err, fmt.Sprintf("incident action %d", id))
	})
}

// IncidentActions returns the actions f selects, oldest first.
func (s *Store) IncidentActions(ctx context.Context, f IncidentActionFilter) ([]IncidentAction, error) {
	q := `SELECT id, incident_id, service, environment, action, mode, who, at, status, data FROM incident_actions
		WHERE (? = 0 OR incident_id = ?) AND (? = '' OR service = ?) AND (? = '' OR action = ?) AND (? = '' OR mode = ?) AND at >= ?`
	args := []any{f.IncidentID, f.IncidentID, f.Service, f.Service, f.Action, f.Action, f.Mode, f.Mode, nanos(f.Since).Int64}
	if len(f.Statuses) > 0 {
		q += ` AND status IN (?` + repeatMark(len(f.Statuses)-1) + `)`
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY at, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: incident actions: %w", err)
	}
	defer rows.Close()
	var out []IncidentAction
	for rows.Next() {
		var a IncidentAction
		var at int64
		if err := rows.Scan(&a.ID, &a.IncidentID, &a.Service, &a.Environment, &a.Action, &a.Mode, &a.Who, &at, &a.Status, &a.Data); err != nil {
			return nil, fmt.Errorf("store: incident actions: %w", err)
		}
		a.At = time.Unix(0, at).UTC()
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: incident actions: %w", err)
	}
	return out, nil
}

// RunbookRun is one execution of a runbook; Data holds its steps as the
// incident room writes them.
type RunbookRun struct {
	ID         int64
	Runbook    string
	IncidentID int64
	Who        string
	StartedAt  time.Time
	FinishedAt time.Time
	Status     string
	Data       string
}

// CreateRunbookRun stores r under a new ID (set in r).
func (s *Store) CreateRunbookRun(ctx context.Context, r *RunbookRun) error {
	if r == nil || r.Runbook == "" || r.Status == "" || r.StartedAt.IsZero() {
		return fmt.Errorf("store: create runbook run: %w: runbook, status and start are required", ErrInvalid)
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO incident_runbook_runs (runbook, incident_id, who, started_at, finished_at, status, data)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, r.Runbook, r.IncidentID, r.Who, r.StartedAt.UnixNano(), nanos(r.FinishedAt), r.Status, r.Data)
		if err != nil {
			return err
		}
		r.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create runbook run: %w", err)
	}
	return nil
}

// UpdateRunbookRun reads run id, lets fn change it and writes it back, in
// one transaction; an error from fn changes nothing and is returned.
func (s *Store) UpdateRunbookRun(ctx context.Context, id int64, fn func(r *RunbookRun) error) (*RunbookRun, error) {
	var out *RunbookRun
	err := s.tx(ctx, func(tx *sql.Tx) error {
		r, err := scanRunbookRun(tx.QueryRowContext(ctx, `SELECT `+runbookRunColumns+` FROM incident_runbook_runs WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: runbook run %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: runbook run %d: %w", id, err)
		}
		if err := fn(r); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incident_runbook_runs SET finished_at = ?, status = ?, data = ? WHERE id = ?`,
			nanos(r.FinishedAt), r.Status, r.Data, id); err != nil {
			return fmt.Errorf("store: update runbook run %d: %w", id, err)
		}
		out = r
		return nil
	})
	return out, err
}

// GetRunbookRun returns one run; ErrNotFound when there is none.
func (s *Store) GetRunbookRun(ctx context.Context, id int64) (*RunbookRun, error) {
	r, err := scanRunbookRun(s.db.QueryRowContext(ctx, `SELECT `+runbookRunColumns+` FROM incident_runbook_runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: runbook run %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: runbook run %d: %w", id, err)
	}
	return r, nil
}

// RunbookRuns returns the runs in one of statuses (none: all), newest
// first, at most limit (0: all).
func (s *Store) RunbookRuns(ctx context.Context, limit int, statuses ...string) ([]RunbookRun, error) {
	q := `SELECT ` + runbookRunColumns + ` FROM incident_runbook_runs`
	var args []any
	if len(statuses) > 0 {
		q += ` WHERE status IN (?` + repeatMark(len(statuses)-1) + `)`
		for _, st := range statuses {
			args = append(args, st)
		}
	}
	q += ` ORDER BY id DESC`
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: runbook runs: %w", err)
	}
	defer rows.Close()
	var out []RunbookRun
	for rows.Next() {
		r, err := scanRunbookRun(rows)
		if err != nil {
			return nil, fmt.Errorf("store: runbook runs: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

const runbookRunColumns = `id, runbook, incident_id, who, started_at, finished_at, status, data`

func scanRunbookRun(sc scanner) (*RunbookRun, error) {
	var r RunbookRun
	var started int64
	var finished sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Runbook, &r.IncidentID, &r.Who, &started, &finished, &r.Status, &r.Data); err != nil {
		return nil, err
	}
	r.StartedAt, r.FinishedAt = time.Unix(0, started).UTC(), fromNanos(finished)
	return &r, nil
}

// IncidentKey returns the incident room's secret key of the given name,
// making a random 32-byte one the first time; it never changes after.
func (s *Store) IncidentKey(ctx context.Context, name string) ([]byte, error) {
	var key []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT value FROM incident_meta WHERE key = ?`, name).Scan(&key)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO incident_meta (key, value) VALUES (?, ?)`, name, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: incident key %s: %w", name, err)
	}
	return key, nil
}
