package server

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/scan"
	"github.com/tugdev/tug/internal/schedule"
	"github.com/tugdev/tug/internal/store"
)

// defaultRescan is how often live releases are rescanned unless
// scan.rescan says otherwise.
const defaultRescan = 6 * time.Hour

// dbPoll is how often the rescanner looks for a rebuilt database (a
// small file read).
const dbPoll = 5 * time.Second

// rescanner rescans what runs: each live release's dependencies (its
// release copy, or its image) against the vulnerability database, at
// start, every scan.rescan (on the schedule room's clock) and whenever the
// database is rebuilt, and publishes the counts
// as tug_scan_findings{service,environment,severity}, which the default
// alert pack turns into VulnerableRelease alerts (P1 critical, P2 high).
type rescanner struct {
	st       *store.Store
	config   func() *config.Config
	stateDir string
	log      *slog.Logger
	gauge    *prometheus.GaugeVec
	images   *scan.DockerImages
	env      func(string) (string, bool)
	// poll is how often the database is checked for a rebuild (tests
	// shorten it).
	poll time.Duration
}

// rescans is the daemon's rescanner of live releases.
func (d *daemon) rescans() *rescanner {
	return newRescanner(d.store, func() *config.Config { return d.src.Current().Config }, d.o.StateDir, d.o.Registry, d.o.LookupEnv, d.log)
}

func newRescanner(st *store.Store, cfg func() *config.Config, stateDir string, reg prometheus.Registerer, lookupEnv func(string) (string, bool), log *slog.Logger) *rescanner {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tug_scan_findings",
		Help: "Vulnerabilities found in live releases by the server's last rescan, by service, environment and severity.",
	}, []string{"service", "environment", "severity"})
	if err := reg.Register(g); err != nil {
		// A registry that outlives one server keeps the first one's gauge.
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) && isGaugeVec(are.ExistingCollector) {
			g = are.ExistingCollector.(*prometheus.GaugeVec)
		} else {
			log.Warn("scan metrics", "err", err)
		}
	}
	r := &rescanner{st: st, config: cfg, stateDir: stateDir, log: log, gauge: g, env: lookupEnv, poll: dbPoll}
	if src, err := scan.NewDockerImages(); err == nil {
		r.images = src
	}
	return r
}

func isGaugeVec(c prometheus.Collector) bool {
	_, ok := c.(*prometheus.GaugeVec)
	return ok
}

// run rescans at start, every interval and on every database rebuild,
// until ctx ends.
func (r *rescanner) run(ctx context.Context) {
	if r.images != nil {
		defer r.images.Close()
	}
	// The clock is the schedule room's loop; a tick asks this goroutine
	// to rescan, so rescans never overlap.
	due := make(chan struct{}, 1)
	var sched *schedule.Scheduler
	if st, err := schedule.OpenFileStore(filepath.Join(r.stateDir, rescanScheduleFile)); err != nil {
		r.log.Warn("rescans on a schedule are off", "err", err)
	} else {
		sched = schedule.New(schedule.Options{Store: st, Logger: r.log})
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			_ = sched.Run(ctx)
		}()
	}
	var interval time.Duration
	var built time.Time
	first := true
	t := time.NewTicker(r.poll)
	defer t.Stop()
	for {
		c := r.config()
		if every := rescanInterval(c); sched != nil && every != interval {
			interval = every
			err := sched.Set([]schedule.Entry{{Name: "scan/rescan", Spec: cron.Every(every), Fire: func(context.Context, time.Time) {
				select {
				case due <- struct{}{}:
				default:
				}
			}}})
			if err != nil {
				r.log.Warn("rescan schedule", "err", err)
			}
		}
		var now time.Time
		if db, err := scan.OpenDB(scan.ConfiguredDBDir(c, "", r.env)); err == nil {
			now = db.Meta.Built
		}
		// At start (the gauges live in memory), and when the database was
		// rebuilt.
		if first || !now.Equal(built) {
			first, built = false, now
			r.rescan(ctx, c)
		}
		select {
		case <-ctx.Done():
			return
		case <-due:
			r.rescan(ctx, r.config())
		case <-t.C:
		}
	}
}

// rescanScheduleFile keeps the last scheduled rescan, in the state
// directory, so a restarted server can tell a missed one.
const rescanScheduleFile = "rescan-schedule.json"

// rescanInterval is scan.rescan, or the default.
func rescanInterval(c *config.Config) time.Duration {
	if c != nil && c.Scan != nil && c.Scan.Rescan > 0 {
		return c.Scan.Rescan.D()
	}
	return defaultRescan
}

// rescan scans every live release once.
func (r *rescanner) rescan(ctx context.Context, c *config.Config) {
	if c == nil {
		return
	}
	db, err := scan.OpenDB(scan.ConfiguredDBDir(c, "", r.env))
	if err != nil {
		r.log.Debug("rescan skipped", "err", err)
		return
	}
	for _, svc := range c.ServiceOrder {
		rels, err := r.st.ListReleases(ctx, svc, "", 50)
		if err != nil {
			r.log.Warn("rescan: releases", "service", svc, "err", err)
			continue
		}
		for _, rel := range rels {
			if rel.Status != "live" {
				continue
			}
			o := scan.ConfiguredOptions(c)
			o.Deps, o.DB, o.LicensePolicy = true, db, nil
			switch {
			case rel.Digest != "":
				o.Images = []string{rel.Digest}
				if r.images != nil {
					o.ImageSource = r.images
				}
			case rel.Dir != "":
				o.Root = rel.Dir
			default:
				o.Root = filepath.Join(r.stateDir, "releases", rel.ID)
			}
			rep, err := scan.Run(ctx, o)
			if err != nil {
				r.log.Warn("rescan", "service", svc, "release", rel.ID, "err", err)
				continue
			}
			counts := scan.Counts(rep.Findings)
			for _, sev := range config.ScanSeverities() {
				r.gauge.WithLabelValues(svc, rel.Environment, sev).Set(float64(counts[sev]))
			}
			r.log.Info("rescanned live release", "service", svc, "release", rel.ID, "critical", counts["critical"], "high", counts["high"])
		}
	}
}
