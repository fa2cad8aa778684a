package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/server"
)

func (a *app) newDrCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dr",
		Short: "Disaster recovery: the generated runbook, and drills that rebuild everything from backups",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newDrPlanCmd(), a.newDrDrillCmd())
	return cmd
}

func (a *app) newDrPlanCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "plan [--out FILE]",
		Short: "Write the disaster-recovery plan (Markdown) from tug.yaml and the backup history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			ws, err := a.workspace()
			if err != nil {
				return err
			}
			m, err := backup.New(cfg, backup.Options{StateDir: a.stateDir(), Secrets: a.backupSecrets(ws), Logger: a.logger})
			if err != nil {
				return err
			}
			doc := m.Plan()
			if out == "" {
				_, err := io.WriteString(a.out, doc)
				return err
			}
			if err := kit.WriteFile(out, []byte(doc), 0o644); err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.out, "wrote %s\n", out)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the plan to FILE instead of stdout")
	return cmd
}

// drillResult is what `tug dr drill --json` prints.
type drillResult struct {
	OK         bool           `json:"ok"`
	RTOSeconds float64        `json:"rto_seconds"`
	Steps      []drillStep    `json:"steps"`
	Services   []drillService `json:"services"`
	Error      string         `json:"error,omitempty"`
}

type drillStep struct {
	What    string  `json:"what"`
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
}

type drillService struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Revision    string `json:"revision"`
	Release     string `json:"release,omitempty"`
	Healthy     bool   `json:"healthy"`
}

func (a *app) newDrDrillCmd() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Rebuild the whole project from backups alone into a scratch place on other ports, check the services answer, report the RTO, tear it down",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, _, err := a.backupManager()
			if err != nil {
				return backupErr(err)
			}
			res := a.drill(cmd.Context(), m, keep)
			judgeDrill(&res, m.Config())
			rec := backup.Record{Started: time.Now().Add(-time.Duration(res.RTOSeconds * float64(time.Second))), Duration: res.RTOSeconds,
				OK: res.OK, Error: res.Error, RTOSeconds: res.RTOSeconds}
			if err := m.RecordDrill(context.WithoutCancel(cmd.Context()), rec); err != nil {
				fmt.Fprintf(a.errOut, "tug: warning: recording the drill: %v\n", err)
			}
			if a.jsonOut {
				if err := json.NewEncoder(a.out).Encode(res); err != nil {
					return err
				}
			} else {
				for _, s := range res.Services {
					fmt.Fprintf(a.out, "  %s (%s) at %s: healthy=%v\n", s.Service, s.Environment, shortRev(s.Revision), s.Healthy)
				}
				status := "ok"
				if !res.OK {
					status = "FAILED: " + a.mask(res.Error)
				}
				fmt.Fprintf(a.out, "drill %s: the whole rebuild took %s (RTO)\n", status, (time.Duration(res.RTOSeconds * float64(time.Second))).Round(100*time.Millisecond))
			}
			if !res.OK {
				return silentError{fmt.Errorf("%w: %s", backup.ErrCheckFailed, res.Error)}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave the scratch state directory (not the processes) for inspection")
	return cmd
}

// drill restores tug's state into a scratch state directory, each
// database into a scratch PostgreSQL, starts a scratch server on other
// ports with the databases' URLs pointing at the scratch copies, deploys
// every service at the release the restored history has live, and
// checks they pass their health checks. Everything is torn down at the
// end; production is only read (its repositories).
func (a *app) drill(ctx context.Context, m *backup.Manager, keep bool) (res drillResult) {
	start := time.Now()
	res.Services = []drillService{}
	defer func() { res.RTOSeconds = time.Since(start).Seconds() }()
	fail := func(err error) drillResult {
		res.OK, res.Error = false, err.Error()
		return res
	}
	step := func(what string, f func() error) error {
		t := time.Now()
		a.progress("drill: " + what)
		err := f()
		s := drillStep{What: what, Seconds: time.Since(t).Seconds(), OK: err == nil}
		if err != nil {
			s.Error = a.mask(err.Error())
		}
		res.Steps = append(res.Steps, s)
		return err
	}
	cfg := m.Config()
	root, err := os.MkdirTemp("", "tug-drill-")
	if err != nil {
		return fail(err)
	}
	if !keep {
		defer os.RemoveAll(root)
	}
	state := filepath.Join(root, "state")

	var stateBackup string
	for _, n := range cfg.BackupNames() {
		if cfg.Backups[n].Tug {
			stateBackup = n
			break
		}
	}
	if stateBackup == "" {
		return fail(errors.New("no backup of tug's state (a backup with tug: true): the releases to rebuild are recorded there"))
	}
	if err := step("restoring tug's state from "+stateBackup, func() error {
		_, err := m.Restore(ctx, stateBackup, backup.RestoreRequest{To: state})
		if err != nil {
			return err
		}
		// Production's proxy table and lock mean nothing here.
		os.RemoveAll(filepath.Join(state, "proxy"))
		return nil
	}); err != nil {
		return fail(err)
	}
	overrides := map[string]secret.Value{}
	for _, n := range cfg.BackupNames() {
		b := cfg.Backups[n]
		switch b.Kind() {
		case "postgres":
			var db *backup.ScratchDatabase
			if err := step("restoring database "+n+" into a scratch PostgreSQL", func() error {
				var err error
				db, err = m.RestoreScratch(ctx, n)
				return err
			}); err != nil {
				return fail(err)
			}
			defer db.Stop()
			overrides[b.Postgres.URLSecret] = secret.New(db.URL)
			a.maskAlso(overrides[b.Postgres.URLSecret])
		case "path":
			if err := step("restoring directory "+n, func() error {
				_, err := m.Restore(ctx, n, backup.RestoreRequest{To: filepath.Join(root, "files", n)})
				return err
			}); err != nil {
				return fail(err)
			}
		}
	}

	opts, err := a.serverOptions(serverFlags{})
	if err != nil {
		return fail(err)
	}
	httpAddr, err := freeLoopback()
	if err != nil {
		return fail(err)
	}
	opts.StateDir, opts.HTTPAddr, opts.StopServices, opts.Force, opts.Drill = state, httpAddr, true, true, true
	opts.SecretOverrides = overrides
	opts.Logger = slog.New(slog.DiscardHandler)
	if v, _ := a.lookupEnv("TUG_LOG"); v == "debug" {
		opts.Logger = a.logger
	}
	ready := make(chan server.Info, 1)
	opts.Ready = func(i server.Info) { ready <- i }
	srvCtx, stopSrv := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- server.Run(srvCtx, opts) }()
	defer func() {
		stopSrv()
		<-done
	}()
	var info server.Info
	select {
	case info = <-ready:
	case err := <-done:
		done <- err
		return fail(fmt.Errorf("the scratch server did not start: %w", err))
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	}
	client := api.NewClient(info.Socket)

	// Every service at the release the restored history has live.
	for _, svc := range cfg.ServiceOrder {
		rels, err := client.Releases(ctx, svc, "")
		if err != nil {
			return fail(err)
		}
		envs := map[string]deploy.Release{}
		for _, r := range rels {
			if _, seen := envs[r.Environment]; !seen && r.Status == deploy.StatusLive {
				envs[r.Environment] = r
			}
		}
		for _, env := range slices.Sorted(mapKeys(envs)) {
			r := envs[env]
			ds := drillService{Service: svc, Environment: env, Revision: r.Revision}
			err := step(fmt.Sprintf("deploying %s (%s) at %s", svc, env, shortRev(r.Revision)), func() error {
				rel, err := client.Deploy(ctx, api.DeployRequest{Service: svc, Environment: env, Version: r.Revision, Who: "tug dr drill", Force: true}, nil)
				if err != nil {
					return err
				}
				ds.Release = rel.ID
				if rel.Status != deploy.StatusLive {
					return fmt.Errorf("release %s ended %s: %s", rel.ID, rel.Status, rel.Reason)
				}
				return nil
			})
			if err == nil {
				err = step(fmt.Sprintf("checking %s (%s) answers its health check", svc, env), func() error {
					return healthy(ctx, client, cfg, svc, env)
				})
			}
			ds.Healthy = err == nil
			res.Services = append(res.Services, ds)
			if err != nil {
				return fail(err)
			}
		}
	}
	if len(res.Services) == 0 {
		return fail(errors.New("the restored history has no live release to rebuild"))
	}
	res.OK = true
	return res
}

// judgeDrill fails a drill that rebuilt everything but took longer than
// dr.drill.rto.
func judgeDrill(res *drillResult, cfg *config.Config) {
	if !res.OK || cfg.DR == nil || cfg.DR.Drill == nil || cfg.DR.Drill.RTO <= 0 {
		return
	}
	took := time.Duration(res.RTOSeconds * float64(time.Second))
	if objective := cfg.DR.Drill.RTO.D(); took > objective {
		res.OK = false
		res.Error = fmt.Sprintf("the rebuild took %s, longer than dr.drill.rto (%s)", took.Round(100*time.Millisecond), objective)
	}
}

// healthy checks that every instance of a service's environment answers
// its health check (its HTTP path, or a TCP connect without one).
func healthy(ctx context.Context, c *api.Client, cfg *config.Config, svc, env string) error {
	path := ""
	if s := cfg.Services[svc]; s != nil && s.Health != nil {
		path = s.Health.Path
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		n, up := 0, 0
		for _, s := range st.Live {
			if s.Service != svc || s.Environment != env {
				continue
			}
			for _, i := range s.Instances {
				n++
				if path == "" {
					if conn, err := net.DialTimeout("tcp", i.Addr, 2*time.Second); err == nil {
						conn.Close()
						up++
					}
					continue
				}
				if resp, err := hc.Get("http://" + i.Addr + path); err == nil {
					resp.Body.Close()
					if resp.StatusCode < 400 {
						up++
					}
				}
			}
		}
		if n > 0 && up == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (%s): %d of %d instances answer their health check", svc, env, up, n)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// freeLoopback is a loopback address nothing listens on now.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
