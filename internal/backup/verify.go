package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// CheckResult is one check of a restore test.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Got   string `json:"got,omitempty"`
	Want  string `json:"want,omitempty"`
	Error string `json:"error,omitempty"`
}

// VerifyResult is a restore test's outcome: whether the newest snapshot
// restored and passed its checks, how long the restore took (the
// measured RTO) and how old its data was (the achieved RPO), against
// the objectives.
type VerifyResult struct {
	Backup       string        `json:"backup"`
	OK           bool          `json:"ok"`
	Snapshot     string        `json:"snapshot,omitempty"`
	SnapshotTime time.Time     `json:"snapshot_time,omitzero"`
	RTOSeconds   float64       `json:"rto_seconds"`
	RPOSeconds   float64       `json:"rpo_seconds"`
	Size         int64         `json:"size"`
	Checks       []CheckResult `json:"checks"`
	// The objectives (0: none) and whether they were met.
	RTOObjectiveSeconds float64 `json:"rto_objective_seconds,omitempty"`
	RPOObjectiveSeconds float64 `json:"rpo_objective_seconds"`
	RTOMet              bool    `json:"rto_met"`
	RPOMet              bool    `json:"rpo_met"`
	Error               string  `json:"error,omitempty"`
}

// VerifyOptions tune a restore test.
type VerifyOptions struct {
	Progress func(string)
}

// Verify restores the backup's newest snapshot into a scratch place,
// checks it, tears the place down and records the result. The error is
// about the test itself (no snapshot, restic missing, busy); a restore
// or a check that fails is a result with OK false.
func (m *Manager) Verify(ctx context.Context, name string, o VerifyOptions) (*VerifyResult, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return nil, err
	}
	if err := m.CheckRestic(); err != nil {
		return nil, err
	}
	l, err := m.lock(name, "this restore test")
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	start := m.o.Now()
	res := &VerifyResult{Backup: name, Checks: []CheckResult{}}
	res.RPOObjectiveSeconds = RPOObjective(b).Seconds()
	res.RTOObjectiveSeconds = b.RTO.D().Seconds()
	err = m.verify(ctx, c, name, b, start, res, o.Progress)
	if err != nil {
		res.OK, res.Error = false, err.Error()
	}
	res.RTOMet = res.OK && (res.RTOObjectiveSeconds == 0 || res.RTOSeconds <= res.RTOObjectiveSeconds)
	res.RPOMet = res.OK && res.RPOSeconds <= res.RPOObjectiveSeconds
	rec := Record{Kind: RecordVerify, Backup: name, Started: start, Duration: m.o.Now().Sub(start).Seconds(), OK: res.OK, Error: res.Error,
		Snapshot: res.Snapshot, SnapshotTime: res.SnapshotTime, Size: res.Size, RTOSeconds: res.RTOSeconds, RPOSeconds: res.RPOSeconds, Checks: res.Checks}
	if herr := m.appendRecord(rec); herr != nil {
		m.o.Logger.Error("backup: recording the restore test", "backup", name, "err", herr)
	}
	if ctx.Err() != nil {
		return res, context.Cause(ctx)
	}
	return res, nil
}

// RPOObjective is the backup's rpo:, or 1.5 × its schedule's interval.
func RPOObjective(b *config.Backup) time.Duration {
	if b.RPO > 0 {
		return b.RPO.D()
	}
	return Interval(b.Schedule) * 3 / 2
}

// Interval is the time between two ticks of a schedule (0 for one that
// does not parse).
func Interval(expr string) time.Duration {
	s, err := config.ParseSchedule(expr)
	if err != nil {
		return 0
	}
	ref := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC) // a Monday, the first of nothing special
	a := s.Next(ref)
	return s.Next(a).Sub(a)
}

func (m *Manager) verify(ctx context.Context, c *config.Config, name string, b *config.Backup, start time.Time, res *VerifyResult, progress func(string)) error {
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return err
	}
	// pick's listing says when there is no repository yet.
	snap, err := m.pick(ctx, r, name, mainKind(b), "")
	if err != nil {
		return err
	}
	res.Snapshot, res.SnapshotTime = snap.ShortID, snap.Time
	res.RPOSeconds = start.Sub(snap.Time).Seconds()
	var checks []*config.BackupCheck
	if b.Verify != nil {
		checks = b.Verify.Checks
	}
	switch b.Kind() {
	case "postgres":
		say(progress, "restoring %s %s into a scratch PostgreSQL", name, snap.ShortID)
		cl, err := m.startScratch(ctx, "restore test of "+name)
		if err != nil {
			return err
		}
		defer cl.stop()
		size, err := m.restoreDump(ctx, r, snap.ID, name, cl.conn("postgres"), "restore", false, true)
		if err != nil {
			return err
		}
		res.Size = size
		res.RTOSeconds = m.o.Now().Sub(start).Seconds()
		say(progress, "restored in %.1fs; checking", res.RTOSeconds)
		res.Checks = append(res.Checks, m.amcheck(ctx, cl.conn("restore")))
		for _, ch := range checks {
			res.Checks = append(res.Checks, m.sqlCheck(ctx, cl.conn("restore"), ch))
		}
	default:
		say(progress, "restoring %s %s into a scratch directory", name, snap.ShortID)
		cl, err := m.newScratch("restore test of " + name)
		if err != nil {
			return err
		}
		defer cl.stop()
		dir := filepath.Join(cl.dir, "files")
		if err := r.restore(ctx, snap.ID, dir); err != nil {
			return err
		}
		res.RTOSeconds = m.o.Now().Sub(start).Seconds()
		res.Size = dirSize(dir)
		res.Checks = append(res.Checks, CheckResult{Name: "restic restore --verify (content matches the snapshot)", OK: true})
		if b.Tug {
			res.Checks = append(res.Checks, stateChecks(ctx, dir)...)
		}
		for _, ch := range checks {
			res.Checks = append(res.Checks, fileCheck(dir, ch))
		}
	}
	res.OK = true
	for _, ch := range res.Checks {
		if !ch.OK {
			res.OK = false
			res.Error = fmt.Sprintf("%s: check failed: %s", name, ch.Name)
			break
		}
	}
	return nil
}

// pick finds the snapshot to restore: id (a prefix, or "latest"/""
// for the newest) among the backup's snapshots of kind.
func (m *Manager) pick(ctx context.Context, r *repo, name, kind, id string) (snapshot, error) {
	snaps, err := r.snapshots(ctx, tags(name, kind)...)
	if err != nil {
		return snapshot{}, err
	}
	if len(snaps) == 0 {
		return snapshot{}, fmt.Errorf("%w: backup %s has no snapshot yet (run `tug backup run %s`)", ErrNoSnapshot, name, name)
	}
	if id == "" || id == "latest" {
		newest := snaps[0]
		for _, s := range snaps[1:] {
			if s.Time.After(newest.Time) {
				newest = s
			}
		}
		return newest, nil
	}
	var found []snapshot
	for _, s := range snaps {
		if strings.HasPrefix(s.ID, id) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return snapshot{}, fmt.Errorf("%w: backup %s has no snapshot %q (tug backup ls %s lists them)", ErrNoSnapshot, name, id, name)
	case 1:
		return found[0], nil
	}
	return snapshot{}, fmt.Errorf("%w: snapshot %q is ambiguous: give more of its ID", ErrBadRequest, id)
}

// amcheck runs pg_amcheck over the restored database (heap and B-tree
// indexes).
func (m *Manager) amcheck(ctx context.Context, conn pgConn) CheckResult {
	res := CheckResult{Name: "pg_amcheck"}
	cmd, err := m.pgCommand(ctx, conn, "pg_amcheck", "--install-missing", "--heapallindexed", "--no-password", conn.dbname)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		res.Error = fmt.Sprintf("%v: %s", err, lastLines(string(out), 6))
		return res
	}
	res.OK = true
	return res
}

// sqlCheck runs one SQL check with psql.
func (m *Manager) sqlCheck(ctx context.Context, conn pgConn, ch *config.BackupCheck) CheckResult {
	res := CheckResult{Name: ch.SQL}
	switch {
	case ch.Min != nil:
		res.Want = ">= " + strconv.FormatFloat(*ch.Min, 'f', -1, 64)
	case ch.Equals != nil:
		res.Want = *ch.Equals
	}
	got, err := m.psql(ctx, conn, ch.SQL)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Got = got
	switch {
	case ch.Min != nil:
		n, err := strconv.ParseFloat(got, 64)
		if err != nil {
			res.Error = fmt.Sprintf("the answer %q is not a number", got)
			return res
		}
		res.OK = n >= *ch.Min
	case ch.Equals != nil:
		res.OK = got == *ch.Equals
	default:
		res.OK = true
	}
	return res
}

// psql runs one query and returns the first column of its first row.
func (m *Manager) psql(ctx context.Context, conn pgConn, query string) (string, error) {
	cmd, err := m.pgCommand(ctx, conn, "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password", "-f", "-")
	if err != nil {
		return "", err
	}
	cmd.Stdin = strings.NewReader(query + ";\n")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, lastLines(strings.TrimSpace(errb.String()), 4))
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	first, _, _ = strings.Cut(first, "|")
	return strings.TrimSpace(first), nil
}

// fileCheck checks one file of a restored directory.
func fileCheck(dir string, ch *config.BackupCheck) CheckResult {
	res := CheckResult{Name: "file " + ch.File, Want: ch.SHA256}
	p := filepath.Join(dir, filepath.Clean(ch.File))
	f, err := os.Open(p)
	if err != nil {
		res.Error = "missing from the restored files"
		return res
	}
	defer f.Close()
	if ch.SHA256 == "" {
		res.OK = true
		return res
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		res.Error = err.Error()
		return res
	}
	res.Got = hex.EncodeToString(h.Sum(nil))
	res.OK = strings.EqualFold(res.Got, ch.SHA256)
	return res
}

// stateChecks checks a restored copy of tug's state: its manifest, its
// SQLite databases' integrity and tug.yaml.
func stateChecks(ctx context.Context, dir string) []CheckResult {
	var out []CheckResult
	var man Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err == nil {
		err = json.Unmarshal(b, &man)
	}
	mc := CheckResult{Name: ManifestFile, OK: err == nil}
	if err != nil {
		mc.Error = err.Error()
	}
	out = append(out, mc)
	for _, db := range man.Databases {
		c := CheckResult{Name: "sqlite integrity " + db, OK: true}
		if err := integrityCheck(ctx, filepath.Join(dir, db)); err != nil {
			c.OK, c.Error = false, err.Error()
		}
		out = append(out, c)
	}
	cfg := CheckResult{Name: ConfigFile, OK: exists(filepath.Join(dir, ConfigFile))}
	if !cfg.OK {
		cfg.Error = "missing"
	}
	return append(out, cfg)
}

// dirSize adds up the sizes of a directory's files.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// pgIdent quotes name as a PostgreSQL identifier: a double quote inside
// is doubled (Go's %q escapes it with a backslash, which SQL does not
// read), so a database name from a URL cannot end the statement.
func pgIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}
