package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/testkit"
)

// cdYAML is a project delivered from one push: ci tests the commit,
// deploys it to staging (smoke-checked), then to production, which waits
// for approval. The service serves the VERSION file of its release.
const cdYAML = `version: 1
project: cd
services:
  shop:
    run: VERSION=$(cat VERSION) exec %[1]s
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    deploy: {strategy: rolling, drain_timeout: 1s}
    environments:
      staging: {routes: [staging.localhost]}
      production: {routes: [shop.localhost]}
environments:
  staging: {}
  production: {approval: required}
pipelines:
  ci:
    on: [push]
    jobs:
      test: {run: "grep -qx 'v[0-9]*' VERSION"}
      staging:
        needs: [test]
        deploy: {service: shop, environment: staging}
        smoke: [{path: /, expect_status: 200, expect_body: "version=v"}]
      production:
        needs: [staging]
        deploy: {service: shop, environment: production}
`

// project is a bare repository developers push to, the server's checkout
// of it (where tug.yaml and the state directory are), and a developer's
// clone.
type project struct {
	tug, dir, origin, srv, dev, state string
}

func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=dev", "GIT_AUTHOR_EMAIL=dev@example.com",
		"GIT_COMMITTER_NAME=dev", "GIT_COMMITTER_EMAIL=dev@example.com", "TUG_STATE_DIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func newProject(t *testing.T, yaml string) *project {
	t.Helper()
	tug, app := binaries(t)
	dir := t.TempDir()
	p := &project{tug: tug, dir: dir, origin: filepath.Join(dir, "origin.git"), srv: filepath.Join(dir, "srv"), dev: filepath.Join(dir, "dev")}
	p.state = filepath.Join(p.srv, ".tug")
	runIn(t, dir, "git", "init", "-q", "--bare", "-b", "main", p.origin)
	runIn(t, dir, "git", "clone", "-q", p.origin, p.srv)
	if err := os.WriteFile(filepath.Join(p.srv, "tug.yaml"), []byte(fmt.Sprintf(yaml, app)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p.srv, "VERSION"), []byte("v1\n"), 0o644)
	os.WriteFile(filepath.Join(p.srv, ".gitignore"), []byte(".tug/\n"), 0o644)
	runIn(t, p.srv, "git", "add", "-A")
	runIn(t, p.srv, "git", "commit", "-q", "-m", "v1")
	runIn(t, p.srv, "git", "push", "-q", "origin", "main")
	runIn(t, dir, "git", "clone", "-q", p.origin, p.dev)
	return p
}

// tugCmd runs the real binary against the project's server.
func (p *project) tugCmd(t *testing.T, args ...string) string {
	t.Helper()
	return runIn(t, p.srv, p.tug, args...)
}

// serve starts `tug server` (the real binary) and waits until it answers.
func (p *project) serve(t *testing.T, proxyAddr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(p.tug, "server", "--http", proxyAddr)
	cmd.Dir = p.srv
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Env = append(os.Environ(), "TUG_STATE_DIR=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := api.NewClient(filepath.Join(p.state, api.SocketName))
	testkit.Eventually(t, 30*time.Second, "the server to answer", func() bool {
		_, err := c.Health(context.Background())
		return err == nil
	})
	return cmd
}

// runsJSON is `tug runs --json`.
func (p *project) runsJSON(t *testing.T) []runner.RunInfo {
	t.Helper()
	var runs []runner.RunInfo
	if err := json.Unmarshal([]byte(p.tugCmd(t, "runs", "--json")), &runs); err != nil {
		t.Fatal(err)
	}
	return runs
}

// TestPushToProduction: a commit pushed to the bare repository is tested,
// deployed to staging with the new version and smoke-checked, waits for
// approval before production, and goes live there once approved; nothing
// is typed but the push and the approve. Everything runs through the
// real binary.
func TestPushToProduction(t *testing.T) {
	t.Parallel()
	p := newProject(t, cdYAML)
	stopProxyAfter(t, p.state)
	proxyAddr := testkit.FreeAddr(t)
	srv := p.serve(t, proxyAddr)
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		exec.Command(p.tug, "--state-dir", p.state, "down").Run()
	})
	p.tugCmd(t, "hook", "install", "--repo", p.origin)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The push.
	os.WriteFile(filepath.Join(p.dev, "VERSION"), []byte("v2\n"), 0o644)
	runIn(t, p.dev, "git", "commit", "-qam", "v2")
	out := runIn(t, p.dev, "git", "push", "origin", "main")
	if !strings.Contains(out, "run 1 of ci queued for main") {
		t.Fatalf("the hook did not report the push: %s", out)
	}
	commit := runIn(t, p.dev, "git", "rev-parse", "HEAD")

	var waiting runner.RunInfo
	testkit.Eventually(t, 2*time.Minute, "production to wait for approval", func() bool {
		runs := p.runsJSON(t)
		if len(runs) > 0 && (runs[0].Status == "failed" || runs[0].Status == "cancelled") {
			t.Fatalf("run ended: %+v\n%s", runs[0], p.tugCmd(t, "runs", "logs", "1"))
		}
		if len(runs) == 1 && runs[0].Status == "waiting" {
			waiting = runs[0]
			return true
		}
		return false
	})
	if waiting.Event != "push" || waiting.Commit != commit || waiting.Branch != "main" || waiting.Pipeline != "ci" ||
		len(waiting.Jobs) != 1 || waiting.Jobs[0].Name != "production" || waiting.Jobs[0].Status != "waiting" {
		t.Fatalf("the waiting run: %+v", waiting)
	}
	if got, err := get(ctx, proxyAddr, "staging.localhost"); err != nil || got != "version=v2" {
		t.Fatalf("staging: %q %v", got, err)
	}
	if _, err := get(ctx, proxyAddr, "shop.localhost"); err == nil {
		t.Fatal("production serves before it was approved")
	}
	logs := p.tugCmd(t, "runs", "logs", "1", "staging")
	if !strings.Contains(logs, "smoke[0] GET / passed") {
		t.Errorf("staging's log has no passed smoke check:\n%s", logs)
	}
	rel := regexp.MustCompile("tug approve (r[0-9]+)").FindStringSubmatch(waiting.Jobs[0].Reason)
	if rel == nil {
		t.Fatalf("the waiting job says no release to approve: %q", waiting.Jobs[0].Reason)
	}

	// The approve.
	p.tugCmd(t, "approve", rel[1])
	testkit.Eventually(t, 2*time.Minute, "the run to finish", func() bool {
		runs := p.runsJSON(t)
		return len(runs) == 1 && runs[0].Status != "waiting" && runs[0].Status != "running"
	})
	if runs := p.runsJSON(t); runs[0].Status != "success" {
		t.Fatalf("run: %+v\n%s", runs[0], p.tugCmd(t, "runs", "logs", "1"))
	}
	if got, err := get(ctx, proxyAddr, "shop.localhost"); err != nil || got != "version=v2" {
		t.Fatalf("production: %q %v", got, err)
	}
	// The server's own checkout was not touched.
	if st := runIn(t, p.srv, "git", "status", "--porcelain"); st != "" {
		t.Errorf("the server's working copy changed:\n%s", st)
	}
}

const killYAML = `version: 1
server: {max_parallel_runs: 1}
services:
  shop: {run: exec %[1]s}
pipelines:
  ci:
    on: [push]
    jobs:
      work: {run: "if [ -f SLOW ]; then sleep 120; fi"}
`

// TestKilledServerResumesItsQueue: the server is SIGKILLed with one run
// running and two queued. After a restart the queued ones run, the cut-off
// one is interrupted, and neither its worktree nor its job is left.
func TestKilledServerResumesItsQueue(t *testing.T) {
	t.Parallel()
	p := newProject(t, killYAML)
	stopProxyAfter(t, p.state)
	proxyAddr := testkit.FreeAddr(t)
	srv := p.serve(t, proxyAddr)
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	p.tugCmd(t, "hook", "install", "--repo", p.origin)

	os.WriteFile(filepath.Join(p.dev, "SLOW"), nil, 0o644)
	runIn(t, p.dev, "git", "add", "SLOW")
	runIn(t, p.dev, "git", "commit", "-qm", "slow")
	runIn(t, p.dev, "git", "push", "-q", "origin", "main")
	testkit.Eventually(t, time.Minute, "run 1 to run", func() bool {
		runs := p.runsJSON(t)
		return len(runs) == 1 && runs[0].Status == "running"
	})
	runIn(t, p.dev, "git", "rm", "-q", "SLOW")
	runIn(t, p.dev, "git", "commit", "-qm", "fast")
	runIn(t, p.dev, "git", "push", "-q", "origin", "main")
	runIn(t, p.dev, "git", "commit", "-q", "--allow-empty", "-m", "fast again")
	runIn(t, p.dev, "git", "push", "-q", "origin", "main")
	worktree := filepath.Join(p.state, "worktrees", "run-1")
	testkit.Eventually(t, time.Minute, "two runs queued and run 1's job started", func() bool {
		runs := p.runsJSON(t)
		_, err := os.Stat(filepath.Join(worktree, "SLOW"))
		return len(runs) == 3 && runs[0].Status == "queued" && runs[1].Status == "queued" && err == nil
	})

	srv.Process.Kill() // SIGKILL
	srv.Wait()
	srv = p.serve(t, proxyAddr)
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		exec.Command(p.tug, "--state-dir", p.state, "down").Run()
	})
	testkit.Eventually(t, time.Minute, "the queued runs to run", func() bool {
		runs := p.runsJSON(t)
		return len(runs) == 3 && runs[0].Status == "success" && runs[1].Status == "success"
	})
	if runs := p.runsJSON(t); runs[2].Status != "interrupted" {
		t.Errorf("the cut-off run: %+v", runs[2])
	}
	if left, _ := os.ReadDir(filepath.Join(p.state, "worktrees")); len(left) != 0 {
		t.Errorf("worktrees left: %v", left)
	}
	// Its job (sleep 120 in the worktree) was stopped.
	if out, _ := exec.Command("pgrep", "-f", "sleep 120").Output(); len(out) > 0 {
		for _, pid := range strings.Fields(string(out)) {
			if cwd, err := os.Readlink("/proc/" + pid + "/cwd"); err == nil && strings.HasPrefix(cwd, p.state) {
				t.Errorf("the cut-off job still runs: pid %s in %s", pid, cwd)
			}
		}
	}
}
