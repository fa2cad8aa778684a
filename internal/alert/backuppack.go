package alert

import (
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// BackupPack is the default alert pack of the backups (one group for
// all of them, read from the tug_backup_*, tug_restore_test_* and
// tug_dr_drill_* metrics the backup room exposes).
func BackupPack() []rulefmt.Rule {
	lbl := func(sev string) map[string]string { return map[string]string{LabelSeverity: sev} }
	return []rulefmt.Rule{
		{
			// A backup that has never succeeded counts from when the
			// server started expecting it.
			Alert: "BackupMissing",
			Expr: `(time() - tug_backup_last_success_timestamp_seconds > 1.5 * tug_backup_interval_seconds)
or
((time() - tug_backup_watched_since_timestamp_seconds > 1.5 * tug_backup_interval_seconds) unless on(backup) tug_backup_last_success_timestamp_seconds)`,
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary":     "backup {{ $labels.backup }}: no successful run within 1.5 × its interval",
				"description": "Backup {{ $labels.backup }} has not succeeded for longer than one and a half times its schedule's interval. `tug backup run {{ $labels.backup }}` says why.",
			},
		},
		{
			Alert:  "BackupFailed",
			Expr:   `tug_backup_last_run_success == 0`,
			Labels: lbl("P2"),
			Annotations: map[string]string{
				"summary": "backup {{ $labels.backup }}: the last run failed",
			},
		},
		{
			Alert:  "RestoreTestFailed",
			Expr:   `tug_restore_test_success == 0`,
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary":     "backup {{ $labels.backup }}: the last restore test failed",
				"description": "The newest snapshot of {{ $labels.backup }} did not restore, or the restored data failed its checks: `tug backup verify {{ $labels.backup }}` shows which.",
			},
		},
		{
			Alert: "RPOBreached",
			Expr: `(time() - tug_backup_recovery_point_timestamp_seconds > tug_backup_rpo_objective_seconds)
or
(tug_restore_test_rpo_seconds > tug_backup_rpo_objective_seconds)`,
			For:    model.Duration(time.Minute),
			Labels: lbl("P1"),
			Annotations: map[string]string{
				"summary":     "backup {{ $labels.backup }}: more data than the RPO would be lost",
				"description": "The newest point backup {{ $labels.backup }} can restore to (or the data its last restore test restored) is older than its recovery point objective.",
			},
		},
		{
			Alert:  "RTOBreached",
			Expr:   `tug_restore_test_duration_seconds > tug_backup_rto_objective_seconds`,
			Labels: lbl("P2"),
			Annotations: map[string]string{
				"summary": "backup {{ $labels.backup }}: the last restore test took longer than the RTO",
			},
		},
		{
			Alert:  "DRDrillFailed",
			Expr:   `tug_dr_drill_success == 0`,
			Labels: lbl("P2"),
			Annotations: map[string]string{
				"summary": "the last disaster-recovery drill failed: `tug dr drill` shows where",
			},
		},
	}
}

// backupGroup is the rule group of the backup pack.
const backupGroup = "default:backups"
