package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// RunOptions tune one backup run.
type RunOptions struct {
	// At is the snapshot's time (default: now).
	At time.Time
	// Progress receives one line per step; nil prints nothing.
	Progress func(string)
}

// RunResult is what a backup run wrote.
type RunResult struct {
	Backup   string    `json:"backup"`
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"`
	// Size is the data read; Added what the repository stored new (the
	// rest was already there).
	Size     int64   `json:"size"`
	Added    int64   `json:"added"`
	Duration float64 `json:"duration_seconds"`
	// Base is the base backup taken beside the dump (pitr), if any.
	Base string `json:"base,omitempty"`
	// Forgotten counts the snapshots the retention policy forgot.
	Forgotten int `json:"forgotten"`
}

func say(p func(string), format string, args ...any) {
	if p != nil {
		p(fmt.Sprintf(format, args...))
	}
}

// Run takes one backup now: the snapshot, then the retention policy.
// It fails with ErrBusy while the same backup (or its restore test) runs.
// A run that fails leaves no snapshot and the earlier ones as they were.
func (m *Manager) Run(ctx context.Context, name string, o RunOptions) (*RunResult, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return nil, err
	}
	l, err := m.lock(name, "this run")
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	start := m.o.Now()
	at := o.At
	if at.IsZero() {
		at = start
	}
	res, err := m.run(ctx, c, name, b, at, o.Progress)
	rec := Record{Kind: RecordBackup, Backup: name, Started: start, Duration: m.o.Now().Sub(start).Seconds(), OK: err == nil}
	if err != nil {
		rec.Error = err.Error()
	} else {
		res.Duration = rec.Duration
		rec.Snapshot, rec.SnapshotTime, rec.Size, rec.Added, rec.RecoveryPoint = res.Snapshot, res.Time, res.Size, res.Added, res.Time
	}
	if herr := m.appendRecord(rec); herr != nil {
		m.o.Logger.Error("backup: recording the run", "backup", name, "err", herr)
	}
	m.record(ctx, Event{Action: "backup.run", Backup: name, Snapshot: rec.Snapshot}, err)
	return res, err
}

func (m *Manager) run(ctx context.Context, c *config.Config, name string, b *config.Backup, at time.Time, progress func(string)) (*RunResult, error) {
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return nil, err
	}
	say(progress, "opening the repository %s", r.display())
	if err := r.open(ctx, true); err != nil {
		return nil, err
	}
	res := &RunResult{Backup: name, Time: at}
	var sum summary
	switch b.Kind() {
	case "postgres":
		conn, err := m.pgSource(ctx, b)
		if err != nil {
			return nil, err
		}
		if b.Postgres.PITR {
			if err := m.checkArchiving(ctx, conn, name, b); err != nil {
				return nil, err
			}
		}
		say(progress, "dumping %s into the repository", conn)
		sum, err = m.dumpPostgres(ctx, r, conn, name, at)
		if err != nil {
			return nil, err
		}
		if b.Postgres.PITR {
			say(progress, "taking a base backup of %s for point-in-time recovery", conn)
			base, err := m.baseBackup(ctx, r, conn, name, b, at)
			if err != nil {
				return nil, err
			}
			res.Base = base
		}
	case "path":
		dir := c.Abs(b.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: %s is not a directory", ErrBadRequest, dir)
		}
		say(progress, "backing up %s", dir)
		sum, err = r.backupDir(ctx, dir, at, tags(name, kindFiles))
		if err != nil {
			return nil, err
		}
	case "tug":
		say(progress, "backing up tug's state %s", m.o.StateDir)
		sum, err = m.backupState(ctx, r, c, name, at)
		if err != nil {
			return nil, err
		}
	}
	res.Snapshot, res.Size, res.Added = sum.SnapshotID, sum.TotalBytesProcessed, sum.DataAdded
	say(progress, "snapshot %s: %d bytes read, %d new", res.Snapshot, res.Size, res.Added)
	n, err := m.applyRetention(ctx, r, name, b)
	if err != nil {
		return res, fmt.Errorf("snapshot %s written, but the retention policy failed: %w", res.Snapshot, err)
	}
	res.Forgotten = n
	if n > 0 {
		say(progress, "forgot %d snapshots past the retention policy (`tug backup prune` frees their space)", n)
	}
	return res, nil
}

// applyRetention forgets the snapshots past the backup's keep: policy,
// kind by kind; it returns how many it forgot.
func (m *Manager) applyRetention(ctx context.Context, r *repo, name string, b *config.Backup) (int, error) {
	d, w, mo, l := b.KeepPolicy()
	kinds := []string{mainKind(b)}
	if b.Postgres != nil && b.Postgres.PITR {
		kinds = append(kinds, kindBase)
	}
	n := 0
	for _, k := range kinds {
		groups, err := r.forget(ctx, tags(name, k), d, w, mo, l)
		if err != nil {
			return n, err
		}
		for _, g := range groups {
			n += len(g.Remove)
		}
	}
	if b.Postgres != nil && b.Postgres.PITR {
		dropped, err := m.forgetOrphanWAL(ctx, r, name)
		n += dropped
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pgSource resolves a postgres backup's connection.
func (m *Manager) pgSource(ctx context.Context, b *config.Backup) (pgConn, error) {
	vals, err := m.o.Secrets(ctx, []string{b.Postgres.URLSecret})
	if err != nil {
		return pgConn{}, err
	}
	return parsePGURL(vals[b.Postgres.URLSecret].Reveal())
}

// pgCommand builds a command of PostgreSQL's programs connecting with
// conn (through the environment only).
func (m *Manager) pgCommand(ctx context.Context, conn pgConn, prog string, args ...string) (*exec.Cmd, error) {
	p, err := m.pgBin(prog)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = append(childEnv(), conn.env...)
	cmd.SysProcAttr = childAttr()
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// streamInto runs cmd (whose stdout is the data) and streams its output
// into a `restic backup --stdin` snapshot named filename. The data never
// lands on disk. The snapshot is written only once cmd has exited
// successfully: if it fails, restic is killed before it sees the end of
// its input.
func (m *Manager) streamInto(ctx context.Context, r *repo, cmd *exec.Cmd, filename string, at time.Time, tg []string) (summary, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return summary{}, err
	}
	var errb bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &errb, max: 64 << 10}
	st, err := r.backupStream(ctx, filename, at, tg)
	if err != nil {
		return summary{}, err
	}
	if err := cmd.Start(); err != nil {
		st.abort(ctx)
		return summary{}, fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	_, copyErr := io.CopyBuffer(st, out, make([]byte, 1<<20))
	if copyErr != nil {
		_ = cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	prog := cmd.Args[0]
	switch {
	case ctx.Err() != nil:
		st.abort(ctx)
		return summary{}, fmt.Errorf("%s stopped: %w; no snapshot was written", prog, context.Cause(ctx))
	case waitErr != nil:
		st.abort(ctx)
		return summary{}, fmt.Errorf("%s failed (%v); no snapshot was written: %s", prog, waitErr, lastLines(r.mask(errb.String()), 6))
	case copyErr != nil:
		st.abort(ctx)
		return summary{}, fmt.Errorf("restic stopped taking the data of %s; no snapshot was written: %s", prog, lastLines(r.mask(st.stderr), 6))
	}
	return st.commit(ctx)
}

// dumpPostgres streams pg_dump's custom format into the repository,
// uncompressed: restic compresses what it stores, and an uncompressed
// dump deduplicates against the previous one wherever the data did not
// change (a compressed stream differs from the first changed row on).
// It also spares pg_dump's zlib, most of a dump's CPU time.
func (m *Manager) dumpPostgres(ctx context.Context, r *repo, conn pgConn, name string, at time.Time) (summary, error) {
	cmd, err := m.pgCommand(ctx, conn, "pg_dump", "--format=custom", "--compress=0", "--no-password")
	if err != nil {
		return summary{}, err
	}
	return m.streamInto(ctx, r, cmd, dumpFile(name), at, tags(name, kindDump))
}

// dumpFile is the file a dump is stored as in its snapshot.
func dumpFile(name string) string { return name + ".dump" }

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
