package runtime

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/registry"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// The test image: testdata/httpapp, static, on scratch. Built once, by
// the first Docker test, removed by TestMain.
var (
	testImageTag  = "tug-runtime-test-httpapp:" + strconv.Itoa(os.Getpid())
	testImageOnce sync.Once
	testImageErr  error
	testImageCli  *client.Client
)

// dockerClient returns a client, skipping the test only when no engine
// answers.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := registry.Connect(context.Background(), 10*time.Second)
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// testImage builds the test image through the engine's API.
func testImage(t *testing.T) string {
	t.Helper()
	testImageOnce.Do(func() {
		cli, err := registry.NewClient()
		if err != nil {
			testImageErr = err
			return
		}
		testImageCli = cli
		app, err := os.ReadFile(appPath)
		if err != nil {
			testImageErr = err
			return
		}
		// busybox's sleep installs no SIGTERM handler: as PID 1 it would
		// ignore a stop's SIGTERM.
		bb, err := os.ReadFile("/bin/busybox")
		if err != nil {
			testImageErr = fmt.Errorf("the Docker tests need a static busybox at /bin/busybox (apt-get install busybox-static): %w", err)
			return
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		files := map[string][]byte{
			"Dockerfile": []byte("FROM scratch\nCOPY httpapp /httpapp\nCOPY busybox /busybox\nLABEL tug.test=runtime\nENTRYPOINT [\"/httpapp\"]\n"),
			"httpapp":    app,
			"busybox":    bb,
		}
		for name, b := range files {
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b))})
			tw.Write(b)
		}
		tw.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{testImageTag}, Remove: true, ForceRemove: true})
		if err != nil {
			testImageErr = err
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var msg struct{ Error string }
			if err := dec.Decode(&msg); err == io.EOF {
				break
			} else if err != nil {
				testImageErr = err
				return
			}
			if msg.Error != "" {
				testImageErr = errors.New(msg.Error)
				return
			}
		}
	})
	if testImageErr != nil {
		t.Fatalf("build test image: %v", testImageErr)
	}
	return testImageTag
}

// cleanupDockerImage removes the test image, if a test built it.
func cleanupDockerImage() {
	if testImageCli == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	testImageCli.ImageRemove(ctx, testImageTag, image.RemoveOptions{Force: true, PruneChildren: true})
	testImageCli.Close()
}

// newTestDocker returns a Docker runtime with a fresh owner, fast
// tunables and cleanup of every container of that owner.
func newTestDocker(t *testing.T, cli *client.Client, owner string) *Docker {
	t.Helper()
	d, err := NewDocker(DockerOptions{Client: cli, Owner: owner, Restart: fastPolicy, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func testOwner(t *testing.T, cli *client.Client) string {
	owner := "test-" + registry.ContainerName(strconv.Itoa(os.Getpid()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cs, _ := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelOwner+"="+owner))})
		for _, c := range cs {
			cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	})
	return owner
}

func dockerSpec(t *testing.T, id string) Spec {
	return Spec{ID: id, Service: "web", Environment: "test", Release: "r1", Image: testImage(t), Port: 8080,
		Env: map[string]string{"GREETING": "hi from env"}}
}

func TestDockerServesWithLabelsEnvAndLogs(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	owner := testOwner(t, cli)
	d := newTestDocker(t, cli, owner)
	ctx := context.Background()
	spec := dockerSpec(t, "web-1")
	spec.Secrets = map[string]secret.Value{"TOKEN": secret.New("tok-987")}
	in, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.Addr, "127.0.0.1:") || in.ContainerID == "" || in.State != Running {
		t.Fatalf("instance = %+v", in)
	}
	var body string
	testkit.Eventually(t, 0, "the container to serve on "+in.Addr, func() bool { body, err = get(in.Addr, "/env?k=GREETING"); return err == nil })
	if body != "hi from env" {
		t.Fatalf("GREETING = %q", body)
	}
	if body, _ = get(in.Addr, "/env?k=TOKEN"); body != "tok-987" {
		t.Fatalf("TOKEN = %q", body)
	}
	if body, _ = get(in.Addr, "/env?k=PORT"); body != "8080" {
		t.Fatalf("PORT = %q", body)
	}
	insp, err := cli.ContainerInspect(ctx, in.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{LabelOwner: owner, LabelService: "web", LabelEnvironment: "test", LabelRelease: "r1", LabelInstance: "web-1"} {
		if insp.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, insp.Config.Labels[k], v)
		}
	}
	if b := insp.HostConfig.PortBindings["8080/tcp"]; len(b) != 1 || b[0].HostIP != "127.0.0.1" {
		t.Errorf("port bindings = %+v, want 127.0.0.1 only", b)
	}
	if l, err := d.Listening(ctx, in); err != nil || len(l) != 1 || !l[0].Addr().IsLoopback() || in.Addr != l[0].String() {
		t.Errorf("listening on %v (%v), want %s only", l, err, in.Addr)
	}
	if p := insp.HostConfig.RestartPolicy.Name; p != "" && p != container.RestartPolicyDisabled {
		t.Errorf("engine restart policy = %q, want none (tug restarts)", p)
	}
	var lines []string
	testkit.Eventually(t, 0, "stdout and stderr in the logs", func() bool {
		lines, err = d.Logs(ctx, "web-1", 10)
		all := strings.Join(lines, "\n")
		return err == nil && strings.Contains(all, "httpapp listening") && strings.Contains(all, "hello on stderr")
	})
	if lines, _ = d.Logs(ctx, "web-1", 1); len(lines) != 1 {
		t.Fatalf("Logs(1) = %q", lines)
	}

	// With the engine's times: every line, stderr marked, and a read from
	// just after the last line finds only what came later.
	timed, err := d.LogsSince(ctx, "web-1", time.Time{})
	if err != nil || len(timed) < 2 {
		t.Fatalf("LogsSince = %+v, %v", timed, err)
	}
	sawStderr := false
	for i, l := range timed {
		if l.Time.IsZero() || (i > 0 && l.Time.Before(timed[i-1].Time)) || strings.HasPrefix(l.Text, "20") {
			t.Fatalf("line %d %+v: want the engine's time, in order, not in the text", i, l)
		}
		if l.Stderr != strings.Contains(l.Text, "on stderr") {
			t.Errorf("line %+v: stderr flag", l)
		}
		sawStderr = sawStderr || l.Stderr
	}
	if !sawStderr {
		t.Errorf("no stderr line in %+v", timed)
	}
	after := timed[len(timed)-1].Time.Add(time.Nanosecond)
	if more, err := d.LogsSince(ctx, "web-1", after); err != nil || len(more) != 0 {
		t.Fatalf("nothing new yet: %+v, %v", more, err)
	}
	if _, err := get(in.Addr, "/say?msg=later&n=2"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the later lines", func() bool {
		more, err := d.LogsSince(ctx, "web-1", after)
		return err == nil && len(more) == 2 && more[0].Text == "later 0" && more[1].Text == "later 1"
	})
}

func TestDockerCrashRestartAndCrashLoop(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	logger, logs := testkit.Logger()
	owner := testOwner(t, cli)
	// Three crashes make a loop here: a container start costs the engine
	// ~0.4s, five would make the test slow on a shared machine.
	policy := fastPolicy
	policy.CrashLimit = 3
	d, err := NewDocker(DockerOptions{Client: cli, Owner: owner, Restart: policy, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	in, err := d.Start(ctx, dockerSpec(t, "crash-1"))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the container to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	get(in.Addr, "/exit")
	var now Instance
	testkit.Eventually(t, 0, "a restart", func() bool {
		now = findInstance(t, d, "crash-1")
		_, err := get(in.Addr, "/pid")
		return now.Restarts == 1 && now.State == Running && err == nil
	})
	if now.LastExit != "exit status 3" || now.Addr != in.Addr || now.ContainerID != in.ContainerID {
		t.Fatalf("after restart %+v, before %+v", now, in)
	}

	spec := dockerSpec(t, "loop-1")
	spec.Env["CRASH"] = "1"
	if _, err := d.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the crash loop flag", func() bool { now = findInstance(t, d, "loop-1"); return now.CrashLoop })
	if now.Restarts < 2 || now.LastExit != "exit status 3" {
		t.Fatalf("crash-looping instance: %+v", now)
	}
	// The flag is published just before the log line is written.
	testkit.Eventually(t, 0, "the crash-loop log line", func() bool {
		return strings.Contains(logs.String(), `msg="instance is crash-looping" instance=loop-1`)
	})
}

func TestDockerAdoptionAndStop(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	owner := testOwner(t, cli)
	ctx := context.Background()
	stateDir := t.TempDir()
	opts := DockerOptions{Client: cli, Owner: owner, Restart: fastPolicy, PollInterval: 50 * time.Millisecond, StateDir: stateDir}
	first, err := NewDocker(opts)
	if err != nil {
		t.Fatal(err)
	}
	in, err := first.Start(ctx, dockerSpec(t, "adopt-1"))
	if err != nil {
		first.Close()
		t.Fatal(err)
	}
	// A restart before the handover is remembered by the next runtime.
	testkit.Eventually(t, 0, "the container to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	if err := cli.ContainerKill(ctx, in.ContainerID, "KILL"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the first restart", func() bool {
		now := findInstance(t, first, "adopt-1")
		return now.Restarts == 1 && now.State == Running
	})
	first.Close()

	// Another owner never sees it.
	other := newTestDocker(t, cli, testOwner(t, cli))
	if list, err := other.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("other owner lists %+v, %v", list, err)
	}

	second, err := NewDocker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	adopted := findInstance(t, second, "adopt-1")
	if adopted.ContainerID != in.ContainerID || adopted.Addr != in.Addr || adopted.State != Running || adopted.Service != "web" || adopted.Release != "r1" {
		t.Fatalf("adopted %+v, started %+v", adopted, in)
	}
	if adopted.Restarts != 1 || adopted.LastExit != "exit status 137" {
		t.Fatalf("adopted restarts %d, last exit %q; want the first runtime's 1 and exit status 137", adopted.Restarts, adopted.LastExit)
	}
	testkit.Eventually(t, 0, "the container to serve", func() bool { _, err = get(in.Addr, "/pid"); return err == nil })
	if err := cli.ContainerKill(ctx, in.ContainerID, "KILL"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the adopted container restarted", func() bool {
		now := findInstance(t, second, "adopt-1")
		_, err := get(in.Addr, "/pid")
		return now.Restarts == 2 && now.State == Running && err == nil
	})

	if err := second.Stop(ctx, "adopt-1", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "adopt-1.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("history of a stopped instance: %v, want removed", err)
	}
	if _, err := cli.ContainerInspect(ctx, in.ContainerID); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container after Stop: %v, want removed", err)
	}
	if err := second.Stop(ctx, "adopt-1", time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Stop = %v, want ErrNotFound", err)
	}
	if list, _ := second.List(ctx); len(list) != 0 {
		t.Fatalf("List after Stop = %+v", list)
	}
}

func TestDockerMissingImageAndBadInput(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	d := newTestDocker(t, cli, testOwner(t, cli))
	ctx := context.Background()

	id, err := d.ResolveImage(ctx, testImage(t))
	if err != nil || !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("ResolveImage = %q, %v", id, err)
	}
	const missing = "tug-runtime-no-such-image:nope"
	_, err = d.ResolveImage(ctx, missing)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("ResolveImage(missing) = %v, want ErrImageNotFound naming it", err)
	}
	spec := dockerSpec(t, "miss-1")
	spec.Image = missing
	_, err = d.Start(ctx, spec)
	if !errors.Is(err, ErrStart) || !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Start with a missing image = %v", err)
	}
	spec = dockerSpec(t, "noport-1")
	spec.Port = 0
	if _, err := d.Start(ctx, spec); err == nil || !strings.Contains(err.Error(), "spec.port") {
		t.Fatalf("Start without port = %v", err)
	}
	if err := d.Stop(ctx, "nope", time.Second); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stop unknown = %v, want ErrNotFound", err)
	}
	if _, err := d.Logs(ctx, "nope", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Logs unknown = %v, want ErrNotFound", err)
	}
	if list, _ := d.List(ctx); len(list) != 0 {
		t.Fatalf("failed starts left instances: %+v", list)
	}
}

func TestDockerStopReachesAppWithoutTermHandler(t *testing.T) {
	t.Parallel()
	cli := dockerClient(t)
	d := newTestDocker(t, cli, testOwner(t, cli))
	ctx := context.Background()
	spec := dockerSpec(t, "term-1")
	spec.Env["EXEC_SLEEP"] = "1" // the app becomes busybox sleep
	in, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 0, "the sleep to run", func() bool {
		top, err := cli.ContainerTop(ctx, in.ContainerID, nil)
		if err != nil {
			return false
		}
		for _, p := range top.Processes {
			if strings.Contains(strings.Join(p, " "), "sleep 300") {
				return true
			}
		}
		return false
	})
	begin := time.Now()
	if err := d.Stop(ctx, "term-1", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	// An init process forwards SIGTERM; without it, the app as PID 1
	// would ignore it and the stop would last the whole grace.
	if took := time.Since(begin); took > 40*time.Second {
		t.Fatalf("Stop took %v: SIGTERM did not reach the app", took)
	}
}
