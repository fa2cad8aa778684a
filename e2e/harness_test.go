// Package e2e runs the real tug binary: a server, its proxy and services
// as separate processes, driven by the CLI, under a bounded loopback load.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// bin holds the binaries TestMain builds: tug and the test app.
var bin struct{ tug, app string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tug-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.tug = filepath.Join(dir, "tug")
	bin.app = filepath.Join(dir, "app")
	for _, b := range []struct{ out, pkg string }{{bin.tug, "../cmd/tug"}, {bin.app, "./testdata/app"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// project is a git repository with a tug.yaml and tagged versions of the
// test app's inputs, plus a state directory and a proxy port.
type project struct {
	t         *testing.T
	repo      string
	state     string
	httpAddr  string
	server    *exec.Cmd
	serverLog *testkit.SyncBuffer
}

// newProject writes tug.yaml (with APP replaced by the app binary) into a
// fresh git repository and tags versions: each tag maps to files written
// on top of the previous commit.
func newProject(t *testing.T, tugYAML string, versions []version) *project {
	t.Helper()
	root := t.TempDir()
	p := &project{t: t, repo: filepath.Join(root, "repo"), state: filepath.Join(root, "state"), httpAddr: testkit.FreeAddr(t)}
	must(t, os.MkdirAll(p.repo, 0o755))
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = p.repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com",
			"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	must(t, os.WriteFile(filepath.Join(p.repo, "tug.yaml"), []byte(strings.ReplaceAll(tugYAML, "APP", bin.app)), 0o644))
	for _, v := range versions {
		for _, f := range []string{"VERSION", "HEALTH_FAIL", "FAIL_RATE"} {
			os.Remove(filepath.Join(p.repo, f))
		}
		for name, body := range v.files {
			must(t, os.WriteFile(filepath.Join(p.repo, name), []byte(body), 0o644))
		}
		git("add", "-A")
		git("commit", "-q", "--allow-empty", "-m", v.tag)
		git("tag", v.tag)
	}
	t.Cleanup(p.cleanup)
	return p
}

type version struct {
	tag   string
	files map[string]string
}

// goodVersions are two healthy versions answering "v1" and "v2".
func goodVersions() []version {
	return []version{
		{tag: "v1", files: map[string]string{"VERSION": "v1\n"}},
		{tag: "v2", files: map[string]string{"VERSION": "v2\n"}},
	}
}

// startServer runs `tug server` as its own process.
func (p *project) startServer() {
	p.t.Helper()
	cmd := exec.Command(bin.tug, "server", "-f", filepath.Join(p.repo, "tug.yaml"),
		"--state-dir", p.state, "--http", p.httpAddr)
	cmd.Dir = p.repo
	if p.serverLog == nil {
		p.serverLog = &testkit.SyncBuffer{}
	}
	fmt.Fprintf(p.serverLog, "--- server start %s\n", time.Now().Format("15:04:05.000"))
	cmd.Stdout = p.serverLog
	cmd.Stderr = p.serverLog
	cmd.Env = append(os.Environ(), "TUG_LOG=debug")
	must(p.t, cmd.Start())
	p.server = cmd
	if !testkit.Poll(30*time.Second, func() bool { _, _, err := p.tug("status", "--json"); return err == nil }) {
		p.t.Fatalf("server did not come up:\n%s", p.serverLog)
	}
}

// killServer SIGKILLs the server process only: its proxy and services live
// in their own sessions.
func (p *project) killServer() {
	p.t.Helper()
	if p.server == nil {
		return
	}
	_ = p.server.Process.Signal(syscall.SIGKILL)
	_ = p.server.Wait()
	p.server = nil
}

// stopServer ends the server with SIGTERM, leaving services running.
func (p *project) stopServer() {
	if p.server == nil {
		return
	}
	_ = p.server.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.server.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = p.server.Process.Kill()
		<-done
	}
	p.server = nil
}

// tug runs the CLI against the project and returns stdout, stderr.
func (p *project) tug(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	return p.tugCtx(ctx, args...)
}

func (p *project) tugCtx(ctx context.Context, args ...string) (string, string, error) {
	full := append([]string{"-f", filepath.Join(p.repo, "tug.yaml"), "--state-dir", p.state}, args...)
	cmd := exec.CommandContext(ctx, bin.tug, full...)
	cmd.Dir = p.repo
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// tugLines runs the CLI and calls each with every stdout line as it comes.
func (p *project) tugLines(ctx context.Context, each func(string), args ...string) error {
	full := append([]string{"-f", filepath.Join(p.repo, "tug.yaml"), "--state-dir", p.state}, args...)
	cmd := exec.CommandContext(ctx, bin.tug, full...)
	cmd.Dir = p.repo
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		each(sc.Text())
	}
	return cmd.Wait()
}

// deploy runs `tug deploy` and fails the test unless it succeeds.
func (p *project) deploy(service, ver string) string {
	p.t.Helper()
	out, errOut, err := p.tug("deploy", service, "--version", ver)
	if err != nil {
		p.t.Fatalf("tug deploy %s --version %s: %v\nstdout:\n%s\nstderr:\n%s\nserver log tail:\n%s", service, ver, err, out, errOut, tail(p.serverLog.String(), 40))
	}
	return out
}

// status is the live part of `tug status --json`: one entry per service
// and environment, decoded loosely.
func (p *project) status() []map[string]any {
	p.t.Helper()
	out, errOut, err := p.tug("status", "--json")
	if err != nil {
		p.t.Fatalf("tug status: %v\n%s", err, errOut)
	}
	var v struct {
		Live []map[string]any `json:"live"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		p.t.Fatalf("tug status --json: %v\n%s", err, out)
	}
	return v.Live
}

// cleanup stops the server with --stop-services semantics and kills
// anything left that our binaries started.
func (p *project) cleanup() {
	p.killServer()
	killAll(bin.app, p.state)
	killAll(bin.tug, p.state)
}

// appProcesses counts live processes of the test app whose working
// directory lies under the project's state directory.
func (p *project) appProcesses() []int {
	return findProcs(bin.app, p.state)
}

// findProcs lists PIDs whose executable is exe and whose cwd or command
// line mentions under.
func findProcs(exe, under string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || strings.TrimSuffix(target, " (deleted)") != exe {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if strings.HasPrefix(cwd, under) || bytes.Contains(cmdline, []byte(under)) {
			if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && isZombie(stat) {
				continue
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

func isZombie(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func killAll(exe, under string) {
	for _, pid := range findProcs(exe, under) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
