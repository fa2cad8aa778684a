package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Point-in-time recovery. PostgreSQL's archive_command copies each WAL
// segment into the backup's WAL directory; the server ships that
// directory to the repository every minute (one snapshot, the newest,
// holds every segment still needed); each backup run also takes a base
// backup (pg_basebackup's tar, streamed). A segment leaves the WAL
// directory once it is older than the oldest base backup kept, so the
// newest WAL snapshot plus any kept base backup replays to any moment
// since that base backup.

// walSegment matches a WAL segment's file name (timeline, log, segment).
var walSegment = regexp.MustCompile(`^[0-9A-F]{24}$`)

// baseFile is the file a base backup is stored as in its snapshot.
const baseFile = "base.tar"

// WALDir is where a pitr backup's archive_command copies segments.
func (m *Manager) WALDir(c *config.Config, name string, b *config.Backup) string {
	if b.Postgres != nil && b.Postgres.WALDir != "" {
		return c.Abs(b.Postgres.WALDir)
	}
	return m.dir(name, "wal")
}

// ArchiveCommand is the archive_command a pitr backup needs.
func (m *Manager) ArchiveCommand(c *config.Config, name string, b *config.Backup) string {
	d := m.WALDir(c, name, b)
	return fmt.Sprintf("test ! -f %s/%%f && cp %%p %s/%%f", d, d)
}

// checkArchiving makes sure the database archives its WAL where tug
// ships it from, and says the exact settings when it does not.
func (m *Manager) checkArchiving(ctx context.Context, conn pgConn, name string, b *config.Backup) error {
	c := m.Config()
	want := m.ArchiveCommand(c, name, b)
	mode, err := m.psql(ctx, conn, "show archive_mode")
	if err != nil {
		return fmt.Errorf("checking WAL archiving of %s: %w", conn, err)
	}
	cmd, err := m.psql(ctx, conn, "show archive_command")
	if err != nil {
		return fmt.Errorf("checking WAL archiving of %s: %w", conn, err)
	}
	if (mode != "on" && mode != "always") || !strings.Contains(cmd, m.WALDir(c, name, b)) {
		return fmt.Errorf("%w: point-in-time recovery of %s needs WAL archiving into %s: set wal_level = replica, archive_mode = on, archive_command = '%s' in its postgresql.conf and restart it (archive_mode is %s)",
			ErrBadRequest, name, m.WALDir(c, name, b), want, mode)
	}
	if _, err := os.Stat(m.WALDir(c, name, b)); err != nil {
		return fmt.Errorf("%w: the WAL directory %s: %v (create it, writable by PostgreSQL's user)", ErrBadRequest, m.WALDir(c, name, b), err)
	}
	return nil
}

// baseBackup streams pg_basebackup's tar into the repository, tagged
// with the first WAL segment it needs.
func (m *Manager) baseBackup(ctx context.Context, r *repo, conn pgConn, name string, b *config.Backup, at time.Time) (string, error) {
	seg, err := m.psql(ctx, conn, "select pg_walfile_name(pg_current_wal_lsn())")
	if err != nil {
		return "", fmt.Errorf("base backup of %s: %w", name, err)
	}
	cmd, err := m.pgCommand(ctx, conn, "pg_basebackup", "-D", "-", "-F", "tar", "-X", "fetch", "-c", "fast", "--no-password")
	if err != nil {
		return "", err
	}
	sum, err := m.streamInto(ctx, r, cmd, baseFile, at, append(tags(name, kindBase), "wal:"+seg))
	if err != nil {
		return "", err
	}
	// Ship at once, so the base backup is usable without waiting for the
	// next minute.
	if _, err := m.shipWAL(ctx, r, m.Config(), name, b); err != nil {
		return sum.SnapshotID, fmt.Errorf("base backup %s written, but shipping WAL failed: %w", sum.SnapshotID, err)
	}
	return sum.SnapshotID, nil
}

// ShipWAL ships the backup's WAL directory to the repository (the
// server does every minute) and returns the time of the newest segment
// shipped. Two ships of one backup never overlap.
func (m *Manager) ShipWAL(ctx context.Context, name string) (time.Time, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return time.Time{}, err
	}
	if b.Postgres == nil || !b.Postgres.PITR {
		return time.Time{}, fmt.Errorf("%w: backup %s has no pitr", ErrBadRequest, name)
	}
	l, err := m.lock(name+".wal", "this WAL shipment")
	if err != nil {
		return time.Time{}, err
	}
	defer l.Unlock()
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return time.Time{}, err
	}
	if err := r.open(ctx, false); err != nil {
		return time.Time{}, err
	}
	return m.shipWAL(ctx, r, c, name, b)
}

func (m *Manager) shipWAL(ctx context.Context, r *repo, c *config.Config, name string, b *config.Backup) (time.Time, error) {
	dir := m.WALDir(c, name, b)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return time.Time{}, err
	}
	var newest time.Time
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if len(entries) == 0 {
		return time.Time{}, nil
	}
	start := m.o.Now()
	sum, err := r.backupDir(ctx, dir, start, tags(name, kindWAL))
	rec := Record{Kind: RecordWAL, Backup: name, Started: start, Duration: m.o.Now().Sub(start).Seconds(), OK: err == nil, RecoveryPoint: newest}
	if err != nil {
		rec.Error = err.Error()
	} else {
		rec.Snapshot, rec.Added = sum.SnapshotID, sum.DataAdded
	}
	if herr := m.appendRecord(rec); herr != nil {
		m.o.Logger.Error("backup: recording WAL shipment", "backup", name, "err", herr)
	}
	if err != nil {
		return time.Time{}, err
	}
	// The newest WAL snapshot holds every segment still needed.
	if _, err := r.forget(ctx, tags(name, kindWAL), 0, 0, 0, 1); err != nil {
		return newest, err
	}
	return newest, nil
}

// forgetOrphanWAL removes from the WAL directory the segments older than
// the oldest base backup kept (the newest WAL snapshot has them until
// then). It forgets no snapshot itself and returns 0.
func (m *Manager) forgetOrphanWAL(ctx context.Context, r *repo, name string) (int, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return 0, err
	}
	bases, err := r.snapshots(ctx, tags(name, kindBase)...)
	if err != nil || len(bases) == 0 {
		return 0, err
	}
	oldest := ""
	for _, s := range bases {
		if seg := s.tag("wal"); seg != "" && (oldest == "" || seg < oldest) {
			oldest = seg
		}
	}
	if oldest == "" {
		return 0, nil
	}
	dir := m.WALDir(c, name, b)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		// Compare within the timeline: a segment of an older timeline
		// sorts first and is as old.
		if walSegment.MatchString(e.Name()) && e.Name() < oldest {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return 0, nil
}

// restoreAt recovers the database as it was at q.At: the newest base
// backup before it, replayed with the shipped WAL up to that moment in a
// scratch cluster; then dumped into q.Into, or left as a data directory
// in q.To.
func (m *Manager) restoreAt(ctx context.Context, c *config.Config, r *repo, name string, b *config.Backup, q RestoreRequest) (*RestoreResult, string, error) {
	live, err := m.pgSource(ctx, b)
	if err != nil {
		return nil, "", err
	}
	var target pgConn
	res := &RestoreResult{Backup: name, At: q.At}
	if q.Into != "" {
		if target, err = parsePGURL(q.Into); err != nil {
			return nil, "", err
		}
		res.Target = target.String()
		if live.same(target) && !q.Force {
			return nil, res.Target, fmt.Errorf("%w: %s is the live database of backup %s; add --force to restore over it", ErrTarget, res.Target, name)
		}
		empty, err := m.dbEmpty(ctx, target)
		if err != nil {
			return nil, res.Target, err
		}
		if !empty && !q.Force {
			return nil, res.Target, fmt.Errorf("%w: database %s is not empty; restore into an empty one, or add --force", ErrTarget, res.Target)
		}
	} else {
		dir, err := filepath.Abs(q.To)
		if err != nil {
			return nil, "", fmt.Errorf("%w: --to: %v", ErrBadRequest, err)
		}
		res.Target = dir
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			return nil, dir, fmt.Errorf("%w: %s is not empty; a recovered data directory needs an empty or new one", ErrTarget, dir)
		}
	}
	bases, err := r.snapshots(ctx, tags(name, kindBase)...)
	if err != nil {
		return nil, res.Target, err
	}
	var base *snapshot
	for i := range bases {
		if !bases[i].Time.After(q.At) && (base == nil || bases[i].Time.After(base.Time)) {
			base = &bases[i]
		}
	}
	if base == nil {
		return nil, res.Target, fmt.Errorf("%w: backup %s has no base backup taken before %s", ErrNoSnapshot, name, q.At.Format(time.RFC3339))
	}
	wals, err := r.snapshots(ctx, tags(name, kindWAL)...)
	if err != nil {
		return nil, res.Target, err
	}
	if len(wals) == 0 {
		return nil, res.Target, fmt.Errorf("%w: backup %s has no WAL shipped yet", ErrNoSnapshot, name)
	}
	slices.SortFunc(wals, func(a, b snapshot) int { return a.Time.Compare(b.Time) })
	wal := wals[len(wals)-1]
	res.Snapshot, res.SnapshotTime = base.ShortID, base.Time

	say(q.Progress, "recovering %s to %s from base backup %s and WAL %s", name, q.At.Format(time.RFC3339), base.ShortID, wal.ShortID)
	cl, err := m.newScratch("point-in-time restore of " + name)
	if err != nil {
		return nil, res.Target, err
	}
	defer cl.stop()
	if live.user != "" {
		cl.user = live.user
	}
	if err := os.MkdirAll(cl.data, 0o700); err != nil {
		return nil, res.Target, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(r.dump(ctx, base.ID, "/"+baseFile, pw)) }()
	if err := untar(pr, cl.data); err != nil {
		pr.CloseWithError(err)
		return nil, res.Target, fmt.Errorf("unpacking base backup %s: %w", base.ShortID, err)
	}
	walDir := filepath.Join(cl.dir, "wal")
	if err := r.restore(ctx, wal.ID, walDir); err != nil {
		return nil, res.Target, err
	}
	if err := os.WriteFile(filepath.Join(cl.data, "recovery.signal"), nil, 0o600); err != nil {
		return nil, res.Target, err
	}
	hba, err := cl.writeHBA()
	if err != nil {
		return nil, res.Target, err
	}
	if err := cl.chown(cl.dir); err != nil {
		return nil, res.Target, err
	}
	err = cl.start(ctx,
		"hba_file="+hba, "wal_level=replica", "max_wal_senders=0", "hot_standby=off",
		"restore_command=cp "+walDir+"/%f %p",
		"recovery_target_time="+q.At.UTC().Format("2006-01-02 15:04:05.999999-07"),
		"recovery_target_action=promote")
	if err != nil {
		return nil, res.Target, fmt.Errorf("recovering to %s: %w", q.At.Format(time.RFC3339), err)
	}
	if q.Into != "" {
		say(q.Progress, "recovered; copying %s into %s", live.dbname, res.Target)
		res.Size, err = m.copyDatabase(ctx, cl.conn(live.dbname), target, !q.Force)
		return res, res.Target, err
	}
	// A data directory to start by hand: never archiving into
	// production's WAL directory.
	cl.stopServer()
	f, err := os.OpenFile(filepath.Join(cl.data, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.WriteString("\n# restored by tug: this copy does not archive WAL\narchive_mode = off\n")
		f.Close()
	}
	if err != nil {
		return nil, res.Target, err
	}
	if err := os.MkdirAll(filepath.Dir(res.Target), 0o755); err != nil {
		return nil, res.Target, err
	}
	os.Remove(res.Target) // empty, checked above
	if err := os.Rename(cl.data, res.Target); err != nil {
		if err := copyTree(cl.data, res.Target); err != nil {
			return nil, res.Target, err
		}
		if err := cl.chown(res.Target); err != nil {
			return nil, res.Target, err
		}
	}
	res.Size = dirSize(res.Target)
	say(q.Progress, "start it with: pg_ctl -D %s start", res.Target)
	return res, res.Target, nil
}

// stopServer stops the scratch server but keeps its directory.
func (c *cluster) stopServer() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// copyDatabase streams pg_dump of from into pg_restore of to.
func (m *Manager) copyDatabase(ctx context.Context, from, to pgConn, empty bool) (int64, error) {
	dump, err := m.pgCommand(ctx, from, "pg_dump", "--format=custom", "--no-password")
	if err != nil {
		return 0, err
	}
	args := []string{"--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", "--no-password", "-d", to.dbname}
	if !empty {
		args = append(args, "--clean", "--if-exists")
	}
	rest, err := m.pgCommand(ctx, to, "pg_restore", args...)
	if err != nil {
		return 0, err
	}
	out, err := dump.StdoutPipe()
	if err != nil {
		return 0, err
	}
	in, err := rest.StdinPipe()
	if err != nil {
		return 0, err
	}
	derr := &limitedBuffer{b: new(bytes.Buffer), max: 64 << 10}
	rerr := &limitedBuffer{b: new(bytes.Buffer), max: 64 << 10}
	dump.Stderr, rest.Stderr = derr, rerr
	if err := rest.Start(); err != nil {
		return 0, err
	}
	if err := dump.Start(); err != nil {
		in.Close()
		rest.Wait()
		return 0, err
	}
	cw := &countWriter{w: in}
	_, cerr := io.Copy(cw, out)
	dwait := dump.Wait()
	in.Close()
	rwait := rest.Wait()
	switch {
	case dwait != nil:
		return cw.n, fmt.Errorf("pg_dump of the recovered database: %v: %s", dwait, lastLines(derr.b.String(), 6))
	case rwait != nil:
		return cw.n, fmt.Errorf("pg_restore: %v: %s", rwait, lastLines(rerr.b.String(), 6))
	case cerr != nil:
		return cw.n, cerr
	}
	return cw.n, nil
}

// untar unpacks a tar stream into dir, refusing entries that would land
// outside it.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q leaves the target", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm()|0o600)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			return fmt.Errorf("entry %q is a symbolic link (a tablespace): tug restores clusters without tablespaces", h.Name)
		}
	}
}
