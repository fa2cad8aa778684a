package server

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/schedule"
	"github.com/tugdev/tug/internal/testkit"
)

// TestBackupsOnTheServersSchedule: the server runs a backup on its
// schedule (a tick missed while it was down fires once at start), exposes
// the run as metrics, and takes a backup asked for through the API.
func TestBackupsOnTheServersSchedule(t *testing.T) {
	if _, err := exec.LookPath("restic"); err != nil {
		t.Skip("restic is not installed")
	}
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "orders.csv"), []byte("1,tea\n"), 0o644)
	cfgPath := writeConfig(t, dir, minimalYAML+`backups:
  files: {path: ./data, schedule: "@daily", to: {path: ./repo}, password_secret: PW, keep: {last: 10}, verify: {schedule: "off"}}
`)
	// The server was down at the last daily tick.
	os.MkdirAll(filepath.Join(state, backup.Dir), 0o700)
	st, err := schedule.OpenFileStore(filepath.Join(state, backup.Dir, "schedule.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Fired("backup/files", time.Now().Add(-49*time.Hour)); err != nil {
		t.Fatal(err)
	}
	stopProxyAfter(t, state)
	lookup := func(k string) (string, bool) {
		if k == "PW" {
			return "correct horse battery", true
		}
		return "", false
	}
	srv := startServer(t, Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t), LookupEnv: lookup})
	defer srv.stop(t)
	c := api.NewClient(srv.info.Socket)
	ctx := context.Background()
	testkit.Eventually(t, 60*time.Second, "the missed backup runs at start", func() bool {
		m, err := c.Metrics(ctx)
		return err == nil && strings.Contains(m, `tug_backup_last_run_success{backup="files"} 1`)
	})
	// The scheduled run records its success just before it lets go of
	// the backup's lock: until then the API's run is busy (409).
	var res *backup.RunResult
	var apiErr *endpoint.Error
	testkit.Eventually(t, 30*time.Second, "a backup through the API", func() bool {
		res, err = c.BackupRun(ctx, "files")
		if errors.As(err, &apiErr) && apiErr.Status == 409 {
			return false
		}
		if err != nil || res.Snapshot == "" {
			t.Fatalf("a backup through the API: %+v, %v", res, err)
		}
		return true
	})
	if _, err := c.BackupRun(ctx, "fils"); !errors.As(err, &apiErr) || apiErr.Status != 404 || !strings.Contains(apiErr.Message, `did you mean "files"`) {
		t.Errorf("an unknown backup: %v", err)
	}
}
