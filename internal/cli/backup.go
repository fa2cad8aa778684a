package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// The backup commands work on the repositories directly, as `tug run`
// runs pipelines: no server is needed, and the same locks keep them from
// overlapping the server's scheduled runs. `tug backup run` is the
// server's to do while it runs: it owns the state a backup of tug's state
// copies.
func (a *app) newBackupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Take, list, restore, verify and prune the backups tug.yaml declares",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newBackupRunCmd(), a.newBackupLsCmd(), a.newBackupRestoreCmd(), a.newBackupVerifyCmd(), a.newBackupPruneCmd())
	return cmd
}

// backupManager loads tug.yaml and builds the backup manager, with the
// secrets resolved as `tug run` resolves them and masked in every output.
func (a *app) backupManager() (*backup.Manager, *config.Config, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	ws, err := a.workspace()
	if err != nil {
		return nil, nil, err
	}
	cfgPath, _ := a.configPath()
	m, err := backup.New(cfg, backup.Options{
		StateDir:   a.stateDir(),
		ConfigPath: cfgPath,
		Secrets:    a.backupSecrets(ws),
		Logger:     a.logger,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := m.CheckRestic(); err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// backupSecrets resolves secrets from the environment and
// .tug/secrets.env, and masks them in everything printed from then on.
func (a *app) backupSecrets(ws string) backup.Secrets {
	return func(_ context.Context, names []string) (map[string]secret.Value, error) {
		vals, warnings, err := secret.Resolve(names, ws, a.lookupEnv)
		for _, w := range warnings {
			fmt.Fprintln(a.errOut, "tug: warning: "+w)
		}
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			a.maskAlso(v)
		}
		return vals, nil
	}
}

// maskAlso adds values to the secrets masked in everything printed from
// then on, beside those masked already.
func (a *app) maskAlso(vals ...secret.Value) {
	a.masked = append(a.masked, vals...)
	m, _ := secret.NewMasker(a.masked...)
	a.masker = m
}

// progress prints a step of long work on stderr (stdout keeps the data).
func (a *app) progress(line string) { fmt.Fprintln(a.errOut, a.mask(line)) }

// backupErr classifies the backup room's errors into exit codes.
func backupErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, backup.ErrUnknown), errors.Is(err, backup.ErrTarget), errors.Is(err, backup.ErrBadRequest):
		return badInput(err)
	}
	return err
}

func (a *app) newBackupRunCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run NAME",
		Short: "Take a backup now (a snapshot, then its retention policy); the server takes it when one runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := a.backupRunOnServer(cmd.Context(), args[0])
			if errors.Is(err, api.ErrUnreachable) && a.serverURL == "" {
				var m *backup.Manager
				if m, _, err = a.backupManager(); err != nil {
					return backupErr(err)
				}
				res, err = m.Run(cmd.Context(), args[0], backup.RunOptions{Progress: a.progress})
				err = backupErr(err)
			}
			if err != nil {
				return err
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(res)
			}
			_, err = fmt.Fprintf(a.out, "backup %s: snapshot %s, %s read, %s new, %.1fs\n", res.Backup, res.Snapshot,
				cacheBytes(res.Size), cacheBytes(res.Added), res.Duration)
			return err
		},
	}
}

func (a *app) newBackupLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls [NAME]",
		Short: "List snapshots (every backup unless NAME), newest first, with sizes and ages",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, cfg, err := a.backupManager()
			if err != nil {
				return backupErr(err)
			}
			names := cfg.BackupNames()
			if len(args) == 1 {
				names = args
			}
			all := []backup.Snapshot{}
			for _, n := range names {
				snaps, err := m.Snapshots(cmd.Context(), n)
				if err != nil && !errors.Is(err, backup.ErrNoSnapshot) {
					return backupErr(err)
				}
				all = append(all, snaps...)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(all)
			}
			if len(all) == 0 {
				_, err := fmt.Fprintln(a.out, "no snapshots yet: take one with `tug backup run NAME`")
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "BACKUP\tID\tKIND\tTIME\tAGE\tSIZE")
			for _, s := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Backup, s.ShortID, s.Kind, s.Time.Local().Format("2006-01-02 15:04:05"),
					age(time.Duration(s.AgeSeconds*float64(time.Second))), cacheBytes(s.Size))
			}
			return tw.Flush()
		},
	}
}

func (a *app) newBackupRestoreCmd() *cobra.Command {
	var q backup.RestoreRequest
	var at string
	cmd := &cobra.Command{
		Use:   "restore NAME [SNAPSHOT] [--to DIR | --into URL | --at TIME]",
		Short: "Restore a snapshot (default: the newest) into a directory or a database; never over a non-empty or live target without --force",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				q.Snapshot = args[1]
			}
			if at != "" {
				t, err := parseWhen(at)
				if err != nil {
					return badInputf("--at: %v", err)
				}
				q.At = t
			}
			m, _, err := a.backupManager()
			if err != nil {
				return backupErr(err)
			}
			q.Progress = a.progress
			res, err := m.Restore(cmd.Context(), args[0], q)
			if err != nil {
				return backupErr(err)
			}
			if a.jsonOut {
				return json.NewEncoder(a.out).Encode(res)
			}
			what := "snapshot " + res.Snapshot
			if !res.At.IsZero() {
				what = fmt.Sprintf("%s as of %s (base backup %s)", res.Backup, res.At.Local().Format(time.RFC3339), res.Snapshot)
			}
			_, err = fmt.Fprintf(a.out, "restored %s into %s: %s in %.1fs (the RTO of this restore)\n", what, res.Target, cacheBytes(res.Size), res.Duration)
			return err
		},
	}
	cmd.Flags().StringVar(&q.To, "to", "", "restore into this directory (a database backup: its dump file; with --at: a recovered data directory)")
	cmd.Flags().StringVar(&q.Into, "into", "", "restore a database backup into this PostgreSQL database URL")
	cmd.Flags().StringVar(&at, "at", "", "point in time to recover to (RFC 3339, or 2006-01-02 15:04:05 local); needs pitr")
	cmd.Flags().BoolVar(&q.Force, "force", false, "allow a target that is not empty, or the live database or directory itself")
	return cmd
}

// parseWhen reads a moment: RFC 3339, or a local date and time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: write RFC 3339 (2025-03-01T14:30:00Z) or a local 2025-03-01 14:30:00", s)
}

func (a *app) newBackupVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify NAME",
		Short: "Restore test: restore the newest snapshot into a scratch place, check it, tear it down, report the RTO and RPO",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := a.backupManager()
			if err != nil {
				return backupErr(err)
			}
			res, err := m.Verify(cmd.Context(), args[0], backup.VerifyOptions{Progress: a.progress})
			if err != nil && res == nil {
				return backupErr(err)
			}
			if a.jsonOut {
				if jerr := json.NewEncoder(a.out).Encode(res); jerr != nil {
					return jerr
				}
			} else {
				a.printVerify(res)
			}
			switch {
			case err != nil:
				return err
			case !res.OK:
				return silentError{fmt.Errorf("%w: %s", backup.ErrCheckFailed, res.Error)}
			case !res.RPOMet || !res.RTOMet:
				return silentError{fmt.Errorf("%w: objectives not met", backup.ErrCheckFailed)}
			}
			return nil
		},
	}
}

func (a *app) printVerify(r *backup.VerifyResult) {
	status := "ok"
	if !r.OK {
		status = "FAILED"
	}
	fmt.Fprintf(a.out, "restore test of %s: %s (snapshot %s of %s)\n", r.Backup, status, dash(r.Snapshot), r.SnapshotTime.Local().Format("2006-01-02 15:04:05"))
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		line := fmt.Sprintf("  %s %s", mark, c.Name)
		if c.Got != "" || c.Want != "" {
			line += fmt.Sprintf(" (got %s, want %s)", dash(c.Got), dash(c.Want))
		}
		if c.Error != "" {
			line += ": " + c.Error
		}
		fmt.Fprintln(a.out, a.mask(line))
	}
	if r.Error != "" && r.OK == false && len(r.Checks) == 0 {
		fmt.Fprintln(a.out, "  "+a.mask(r.Error))
	}
	objective := func(what string, got, want float64, met bool) {
		w := "none set"
		if want > 0 {
			w = "objective " + (time.Duration(want * float64(time.Second))).String()
			if !met {
				w += ", BREACHED"
			}
		}
		fmt.Fprintf(a.out, "  %s %s (%s)\n", what, (time.Duration(got * float64(time.Second))).Round(100*time.Millisecond), w)
	}
	objective("RTO (measured restore time)", r.RTOSeconds, r.RTOObjectiveSeconds, r.RTOMet)
	objective("RPO (age of the data restored)", r.RPOSeconds, r.RPOObjectiveSeconds, r.RPOMet)
	fmt.Fprintf(a.out, "  restored %s\n", cacheBytes(r.Size))
}

func (a *app) newBackupPruneCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Apply every backup's retention policy and free the space of forgotten snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := a.backupManager()
			if err != nil {
				return backupErr(err)
			}
			res, err := m.Prune(cmd.Context(), a.progress)
			if a.jsonOut {
				if jerr := json.NewEncoder(a.out).Encode(res); jerr != nil {
					return jerr
				}
			} else {
				for _, p := range res {
					status := "pruned"
					if p.Error != "" {
						status = "FAILED: " + p.Error
					}
					fmt.Fprintf(a.out, "%s (%s): %d snapshots forgotten, %s\n", p.Repository, strings.Join(p.Backups, ", "), p.Forgotten, a.mask(status))
				}
			}
			return backupErr(err)
		},
	}
}

// backupRunOnServer asks the project's running server (or --server's)
// to take the backup: it owns the state it backs up (a consistent TSDB
// snapshot), records the run in its audit log under the caller's name,
// and holds the same lock as its schedule. api.ErrUnreachable when no
// server answers.
func (a *app) backupRunOnServer(ctx context.Context, name string) (*backup.RunResult, error) {
	c, err := a.apiClient()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrUnreachable, err) // no project's server: the local run says why
	}
	if _, err := c.Health(ctx); err != nil {
		return nil, err
	}
	a.progress(fmt.Sprintf("the server takes backup %s", name))
	res, err := c.BackupRun(ctx, name)
	if err != nil {
		return nil, a.serverErr(err)
	}
	return res, nil
}

// age prints a duration the way ls shows ages.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
