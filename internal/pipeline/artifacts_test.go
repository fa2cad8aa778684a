package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/cache"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// A job that links a host file into its workspace and lists the link as
// an artifact fails with an error naming the link, and `tug artifacts RUN
// --out DIR` has nothing of the host to write: for host jobs and for
// container jobs, whose /etc/hostname is not the host's but whose link,
// followed on the host, would be.
func TestArtifactLinksOutOfTheWorkspaceFailTheJob(t *testing.T) {
	t.Parallel()
	hostname, err := os.ReadFile("/etc/hostname")
	if err != nil || len(strings.TrimSpace(string(hostname))) == 0 {
		t.Skip("no /etc/hostname to protect")
	}
	for _, kind := range []string{"host", "container"} {
		t.Run(kind, func(t *testing.T) {
			var docker pipeline.Executor
			image := ""
			if kind == "container" {
				docker, image = pipeline.NewTestDocker(t)
			}
			ws := t.TempDir()
			// The container job runs as another user and must be able to write.
			if err := os.Chmod(ws, 0o777); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(ws, ".tug")
			c, err := cache.New(state, cache.Options{})
			if err != nil {
				t.Fatal(err)
			}
			imageKey := ""
			if image != "" {
				imageKey = "\n        image: " + image
			}
			yaml := fmt.Sprintf(`version: 1
project: p
pipelines:
  ci:
    jobs:
      file:%[1]s
        run: mkdir -p out/f && chmod 777 out/f && ln -sf /etc/hostname out/f/hn
        artifacts: [out/f/hn]
      dir:%[1]s
        run: mkdir -p out/d/sub && chmod -R 777 out/d && ln -s /etc out/d/sub/etc && echo ok > out/d/ok.txt
        artifacts: [out/d]
      dotdot:%[1]s
        run: mkdir -p out/u && chmod 777 out/u && ln -s ../../../../../../../../../../etc/hostname out/u/hn
        artifacts: ["out/u/*"]
      through:%[1]s
        run: mkdir -p out/t && chmod 777 out/t && ln -s /etc out/t/etc
        artifacts: [out/t/etc/hostname]
`, imageKey)
			cfg, err := config.Parse("tug.yaml", []byte(yaml), config.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			plan, err := pipeline.NewPlan(cfg, "ci")
			if err != nil {
				t.Fatal(err)
			}
			e := pipeline.New(pipeline.Options{Executor: &pipeline.Host{}, ContainerExecutor: docker, Cache: c, KillGrace: 2 * time.Second})
			run := fmt.Sprintf("links-%d", os.Getpid())
			res, err := e.Run(context.Background(), plan, pipeline.RunOptions{RunID: run, Dir: ws})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"file": "out/f/hn", "dir": "out/d/sub/etc", "dotdot": "out/u/hn", "through": "out/t/etc"}
			for _, j := range res.Jobs {
				link := want[j.Name]
				if j.Status != pipeline.StatusFailed || !strings.Contains(j.Reason, link+" is a symbolic link") || !strings.Contains(j.Reason, "outside the workspace") {
					t.Errorf("%s: %s %q, want failed naming %s", j.Name, j.Status, j.Reason, link)
				}
			}
			out := t.TempDir()
			if _, err := c.ExportArtifacts(context.Background(), run, "", out); !errors.Is(err, cache.ErrNotFound) {
				t.Errorf("export: %v, want nothing to export", err)
			}
			filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					t.Errorf("exported %s", p)
				}
				return nil
			})
			filepath.Walk(filepath.Join(state, "cache", "blobs"), func(p string, fi os.FileInfo, err error) error {
				if data, _ := os.ReadFile(p); err == nil && !fi.IsDir() && strings.Contains(string(data), strings.TrimSpace(string(hostname))) {
					t.Errorf("blob %s holds the host's /etc/hostname", p)
				}
				return nil
			})
		})
	}
}
