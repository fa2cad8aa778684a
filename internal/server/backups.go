package server

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/prometheus/tsdb"

	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/schedule"
)

// backups is the backup room as the server runs it: one Manager, its
// metrics, and one scheduler firing backups, restore tests, WAL
// shipments and drills. A run still going when the server stops is
// cancelled: restic is stopped before it writes a snapshot.
type backups struct {
	m     *backup.Manager
	sched *schedule.Scheduler
	o     Options
	mu    sync.Mutex
}

// startBackups builds the backup room, removes what a killed server left
// (scratch clusters), registers its metrics and starts its schedules. A
// drill's scratch server runs none of it: it must never write to the
// production repositories.
func (d *daemon) startBackups(ctx context.Context) error {
	if d.o.Drill {
		return nil
	}
	m, err := backup.New(d.cfg, backup.Options{
		StateDir:   d.o.StateDir,
		ConfigPath: d.o.ConfigPath,
		Secrets:    backup.Secrets(d.o.Secrets),
		Recorder:   d.backupRecorder(),
		TSDB:       tsdbSnapshotter{d.mon.mon.Storage()},
		Now:        d.o.Now,
		Logger:     d.log.With("room", "backup"),
	})
	if err != nil {
		return err
	}
	if n, err := m.CleanScratch(); err != nil {
		d.log.Warn("backup: cleaning scratch places left by a previous server", "err", err)
	} else if n > 0 {
		d.log.Info("backup: removed scratch places a previous server left", "count", n)
	}
	if err := d.o.Registry.Register(m.Collector()); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(d.o.StateDir, backup.Dir), 0o700); err != nil {
		return err
	}
	st, err := schedule.OpenFileStore(filepath.Join(d.o.StateDir, backup.Dir, "schedule.json"))
	if err != nil {
		return err
	}
	b := &backups{m: m, sched: schedule.New(schedule.Options{Store: st, Logger: d.log}), o: d.o}
	if err := b.setConfig(d.cfg); err != nil {
		return err
	}
	d.backups = b
	if m.CheckRestic() != nil && len(d.cfg.Backups) > 0 {
		d.log.Warn("backup: restic is not installed, so no backup runs: install Debian's restic package (apt-get install restic)")
	}
	prev := d.src.onChange
	d.src.onChange = func(c *config.Config) error {
		if prev != nil {
			if err := prev(c); err != nil {
				return err
			}
		}
		return b.setConfig(c)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.sched.Run(runCtx)
	}()
	d.later(func() {
		stop()
		<-done
	})
	return nil
}

// backupManager is the backup room for the API; nil in a drill's
// scratch server, which runs no backups.
func (d *daemon) backupManager() *backup.Manager {
	if d.backups == nil {
		return nil
	}
	return d.backups.m
}

// setConfig gives the manager c and rebuilds the schedule.
func (b *backups) setConfig(c *config.Config) error {
	b.m.SetConfig(c)
	var entries []schedule.Entry
	add := func(name, expr string, fire func(ctx context.Context, at time.Time)) {
		spec, err := config.ParseSchedule(expr)
		if err != nil {
			return // the loader refused it already
		}
		entries = append(entries, schedule.Entry{Name: name, Spec: spec, Fire: fire})
	}
	log := b.o.Logger
	for _, name := range c.BackupNames() {
		bk := c.Backups[name]
		add("backup/"+name, bk.Schedule, func(ctx context.Context, _ time.Time) {
			if _, err := b.m.Run(ctx, name, backup.RunOptions{}); err != nil {
				log.Error("backup failed", "backup", name, "err", err)
			}
		})
		if s := bk.VerifySchedule(); s != config.ScheduleOff {
			add("verify/"+name, s, func(ctx context.Context, _ time.Time) {
				res, err := b.m.Verify(ctx, name, backup.VerifyOptions{})
				switch {
				case err != nil:
					log.Error("restore test could not run", "backup", name, "err", err)
				case !res.OK:
					log.Error("restore test failed", "backup", name, "err", res.Error)
				default:
					log.Info("restore test passed", "backup", name, "rto_seconds", res.RTOSeconds, "rpo_seconds", res.RPOSeconds)
				}
			})
		}
		if bk.Postgres != nil && bk.Postgres.PITR {
			add("wal/"+name, "@every 1m", func(ctx context.Context, _ time.Time) {
				if _, err := b.m.ShipWAL(ctx, name); err != nil && !errors.Is(err, backup.ErrBusy) && !errors.Is(err, backup.ErrNoSnapshot) {
					log.Error("shipping WAL failed", "backup", name, "err", err)
				}
			})
		}
	}
	if s := c.DrillSchedule(); len(c.Backups) > 0 && s != config.ScheduleOff && len(b.o.DrillCommand) > 0 {
		add("drill", s, func(ctx context.Context, _ time.Time) {
			// A drill runs a whole scratch server: its own process.
			argv := append(append([]string(nil), b.o.DrillCommand...), "-f", b.o.ConfigPath, "--state-dir", b.o.StateDir, "dr", "drill")
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			if out, err := cmd.CombinedOutput(); err != nil {
				log.Error("drill failed", "err", err, "output", string(out))
			}
		})
	}
	return b.sched.Set(entries)
}

// tsdbSnapshotter takes the running TSDB's snapshot for a state backup.
type tsdbSnapshotter struct{ db *tsdb.DB }

func (t tsdbSnapshotter) SnapshotTSDB(_ context.Context, dir string) error {
	return t.db.Snapshot(dir, true)
}

var _ backup.StateSnapshotter = tsdbSnapshotter{}
