package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/runner"
)

// scanYAML is a pipeline whose one job is a scan for leaked secrets.
const scanYAML = `version: 1
project: leaky
pipelines:
  ci:
    on: [manual, push]
    jobs:
      audit:
        scan: {secrets: true, fail_on: medium}
`

// gitProject makes dir a git repository of tug.yaml (src) and files,
// committed, and returns tug.yaml's path.
func gitProject(t *testing.T, dir, src string, files map[string]string) string {
	t.Helper()
	files["tug.yaml"] = src
	files[".gitignore"] = ".tug/\n"
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	runIn(t, dir, "git", "init", "-q", "-b", "main")
	runIn(t, dir, "git", "add", "-A")
	runIn(t, dir, "git", "commit", "-q", "-m", "first")
	return filepath.Join(dir, "tug.yaml")
}

// A scan job runs in a run the server starts, as in `tug run`: its
// findings are in the job's log and fail the run.
func TestServerRunsScanJobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	cfgPath := gitProject(t, dir, scanYAML, map[string]string{"config.env": "REGION=eu-west-1\nAWS_ACCESS_KEY_ID=AKIAQYLPMN5HHHFPZAM2\n"})
	srv := startServer(t, Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t)})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.StartRun(ctx, runner.StartRequest{Pipeline: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	if err := c.FollowRun(ctx, run.ID, "", func(e runner.LogEvent) {
		if e.Line != "" {
			log.WriteString(e.Line + "\n")
		}
		if e.Run != nil {
			run = e.Run
		}
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Run(ctx, run.ID); err == nil {
		run = got
	}
	if run.Status != "failed" || !strings.Contains(log.String(), "aws-access-token") || !strings.Contains(log.String(), "config.env") {
		t.Fatalf("run %s (%s):\n%s", run.Status, run.Reason, log.String())
	}
}
