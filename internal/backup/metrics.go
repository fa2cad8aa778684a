package backup

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metrics the backup alerts read (alert.BackupPack), all labelled
// with the backup's name.
var (
	descLastSuccess   = desc("tug_backup_last_success_timestamp_seconds", "When the newest successful backup run ended.")
	descLastRun       = desc("tug_backup_last_run_timestamp_seconds", "When the newest backup run ended, successful or not.")
	descLastRunOK     = desc("tug_backup_last_run_success", "1 if the newest backup run succeeded, 0 if it failed.")
	descDuration      = desc("tug_backup_duration_seconds", "How long the newest backup run took.")
	descSize          = desc("tug_backup_size_bytes", "The data the newest successful backup run read.")
	descAdded         = desc("tug_backup_added_bytes", "What the newest successful backup run stored new in the repository.")
	descInterval      = desc("tug_backup_interval_seconds", "The time between two runs of the backup's schedule.")
	descWatched       = desc("tug_backup_watched_since_timestamp_seconds", "Since when this server has expected the backup to run.")
	descRecovery      = desc("tug_backup_recovery_point_timestamp_seconds", "The newest moment a restore can reach: the newest snapshot, or with pitr the newest WAL shipped.")
	descRPOObjective  = desc("tug_backup_rpo_objective_seconds", "The backup's recovery point objective.")
	descRTOObjective  = desc("tug_backup_rto_objective_seconds", "The backup's recovery time objective (absent when none is set).")
	descTestLast      = desc("tug_restore_test_last_run_timestamp_seconds", "When the newest restore test ended.")
	descTestOK        = desc("tug_restore_test_success", "1 if the newest restore test restored and passed its checks, 0 if not.")
	descTestLastOK    = desc("tug_restore_test_last_success_timestamp_seconds", "When the newest passing restore test ended.")
	descTestDuration  = desc("tug_restore_test_duration_seconds", "The newest restore test's restore time: the measured RTO.")
	descTestRPO       = desc("tug_restore_test_rpo_seconds", "The age of the data the newest restore test restored: the achieved RPO.")
	descTestSize      = desc("tug_restore_test_size_bytes", "The data the newest restore test restored.")
	descDrillLast     = prometheus.NewDesc("tug_dr_drill_last_run_timestamp_seconds", "When the newest disaster-recovery drill ended.", nil, nil)
	descDrillOK       = prometheus.NewDesc("tug_dr_drill_success", "1 if the newest drill rebuilt every service answering its health check, 0 if not.", nil, nil)
	descDrillDuration = prometheus.NewDesc("tug_dr_drill_duration_seconds", "The newest drill's total rebuild time: the measured RTO of the whole project.", nil, nil)
)

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"backup"}, nil)
}

// Collector exposes the backups' history as metrics; the server
// registers it, so runs from the command line count too. Each collection
// reads the history files (small, appended once per run).
func (m *Manager) Collector() prometheus.Collector {
	return &collector{m: m, since: m.o.Now()}
}

type collector struct {
	m     *Manager
	since time.Time
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLastSuccess, descLastRun, descLastRunOK, descDuration, descSize, descAdded,
		descInterval, descWatched, descRecovery, descRPOObjective, descRTOObjective, descTestLast, descTestOK, descTestLastOK,
		descTestDuration, descTestRPO, descTestSize, descDrillLast, descDrillOK, descDrillDuration} {
		ch <- d
	}
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	cfg := c.m.Config()
	for _, name := range cfg.BackupNames() {
		b := cfg.Backups[name]
		g(descInterval, Interval(b.Schedule).Seconds(), name)
		g(descWatched, unix(c.since), name)
		g(descRPOObjective, RPOObjective(b).Seconds(), name)
		if b.RTO > 0 {
			g(descRTOObjective, b.RTO.D().Seconds(), name)
		}
		hist, err := c.m.History(name)
		if err != nil {
			continue
		}
		last, lastOK := Last(hist, RecordBackup)
		if last != nil {
			g(descLastRun, unix(last.Started.Add(seconds(last.Duration))), name)
			g(descLastRunOK, boolf(last.OK), name)
			g(descDuration, last.Duration, name)
		}
		var recovery time.Time
		if lastOK != nil {
			g(descLastSuccess, unix(lastOK.Started.Add(seconds(lastOK.Duration))), name)
			g(descSize, float64(lastOK.Size), name)
			g(descAdded, float64(lastOK.Added), name)
			recovery = lastOK.SnapshotTime
		}
		if _, wal := Last(hist, RecordWAL); wal != nil && wal.RecoveryPoint.After(recovery) && lastOK != nil {
			recovery = wal.RecoveryPoint
		}
		if !recovery.IsZero() {
			g(descRecovery, unix(recovery), name)
		}
		test, testOK := Last(hist, RecordVerify)
		if test != nil {
			g(descTestLast, unix(test.Started.Add(seconds(test.Duration))), name)
			g(descTestOK, boolf(test.OK), name)
			g(descTestDuration, test.RTOSeconds, name)
			g(descTestRPO, test.RPOSeconds, name)
			g(descTestSize, float64(test.Size), name)
		}
		if testOK != nil {
			g(descTestLastOK, unix(testOK.Started.Add(seconds(testOK.Duration))), name)
		}
	}
	drills, err := c.m.History("")
	if err != nil {
		return
	}
	if d, _ := Last(drills, RecordDrill); d != nil {
		ch <- prometheus.MustNewConstMetric(descDrillLast, prometheus.GaugeValue, unix(d.Started.Add(seconds(d.Duration))))
		ch <- prometheus.MustNewConstMetric(descDrillOK, prometheus.GaugeValue, boolf(d.OK))
		ch <- prometheus.MustNewConstMetric(descDrillDuration, prometheus.GaugeValue, d.RTOSeconds)
	}
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
