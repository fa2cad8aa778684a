package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/testkit"
)

const (
	testImage      = "tug-test-busybox:latest"
	testHTTPDImage = "tug-test-busybox-httpd:latest"
	testUID        = 12345
	testGID        = 23456
)

// newTestDocker returns a Docker executor running as testUID:testGID,
// skipping the test only when no Docker engine answers.
func newTestDocker(t *testing.T) *Docker {
	t.Helper()
	d, err := NewDocker(DockerOptions{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Ping(ctx); err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	return d
}

// buildImage builds tag from a Dockerfile and extra files through the API.
func buildImage(t *testing.T, d *Docker, tag, dockerfile string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files["Dockerfile"] = []byte(dockerfile)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[name]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := d.cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build %s: %v", tag, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var log strings.Builder
	for {
		var msg struct {
			Stream, Error string
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("build %s: %v", tag, err)
		}
		log.WriteString(msg.Stream)
		if msg.Error != "" {
			t.Fatalf("build %s: %s\n%s", tag, msg.Error, log.String())
		}
	}
}

// busyboxImage builds testImage: busybox from Debian's busybox-static on
// scratch, so the tests need no registry.
func busyboxImage(t *testing.T, d *Docker) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("the Docker tests need a static busybox at /bin/busybox (apt-get install busybox-static): %v", err)
	}
	buildImage(t, d, testImage, "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
		map[string][]byte{"busybox": bb})
	return testImage
}

// httpdImage builds a service image serving $GREETING on port 8080 after
// a delay, healthy only once it serves: a job that does not wait for it
// gets "connection refused".
func httpdImage(t *testing.T, d *Docker) string {
	t.Helper()
	busyboxImage(t, d)
	buildImage(t, d, testHTTPDImage, "FROM "+testImage+"\n"+
		"HEALTHCHECK --interval=1s --timeout=5s --retries=60 CMD test -f /tmp/www/ready\n"+
		`CMD ["sh", "-c", "mkdir -p /tmp/www && echo \"$GREETING\" > /tmp/www/index.html && sleep 3 && httpd -p 8080 -h /tmp/www && touch /tmp/www/ready && exec sleep 600"]`+"\n",
		map[string][]byte{})
	return testHTTPDImage
}

// sickImage builds a service image whose health check always fails.
func sickImage(t *testing.T, d *Docker) string {
	t.Helper()
	busyboxImage(t, d)
	const tag = "tug-test-busybox-sick:latest"
	buildImage(t, d, tag, "FROM "+testImage+"\n"+
		"HEALTHCHECK --interval=1s --timeout=5s --retries=1 CMD echo no database here; false\n"+
		`CMD ["sleep", "600"]`+"\n",
		map[string][]byte{})
	return tag
}

// workspace is a temp dir the mapped (non-root) user can write.
func workspace(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// uniqueJob gives a job name no other test (or earlier run) uses, so
// label queries see only this test's containers.
func uniqueJob(base string) string { return base + "[t=" + strings.ToLower(rand.Text()[:8]) + "]" }

// leftovers lists containers and networks still labelled with job.
func leftovers(t *testing.T, d *Docker, job string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", LabelJob+"="+job))
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, "container "+strings.Join(c.Names, ",")+" ("+c.State+")")
	}
	ns, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	return out
}

func TestDockerRunsInWorkspaceAsMappedUser(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	dir := workspace(t)
	if err := os.WriteFile(filepath.Join(dir, "input.txt"), []byte("from-the-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	job := uniqueJob("build")
	out := &testkit.SyncBuffer{}
	spec := &ExecSpec{
		Job:    job,
		Script: "cat input.txt\necho \"greeting=$GREETING\"\necho \"pwd=$(pwd)\"\necho \"id=$(id -u):$(id -g)\"\necho \"home=$HOME\"\necho oops >&2\necho made > made.txt\n",
		Dir:    dir,
		// PATH as the engine passes it: the host's. The image's must win.
		Env:       []string{"GREETING=hello", "PATH=" + os.Getenv("PATH")},
		Image:     img,
		KillGrace: 2 * time.Second,
	}
	code, err := d.Exec(context.Background(), spec, out)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v, output:\n%s", code, err, out)
	}
	for _, want := range []string{"from-the-host", "greeting=hello", "pwd=" + dir, "id=12345:23456", "home=/tmp", "oops"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "made.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != testUID || st.Gid != testGID {
		t.Errorf("made.txt owned by %d:%d, want %d:%d", st.Uid, st.Gid, testUID, testGID)
	}
	if left := leftovers(t, d, job); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A job's secrets reach its script, quotes and all, but not the
// container's configuration, which `docker inspect` shows to anyone with
// access to the engine.
func TestDockerSecretsStayOutOfTheContainerConfig(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	job := uniqueJob("secret")
	const token = `it's a "tok" $HOME \n x`
	out := &testkit.SyncBuffer{}
	spec := &ExecSpec{
		Job:        job,
		Script:     "printf 'token=%s|plain=%s\\n' \"$TOKEN\" \"$PLAIN\"\nsleep 2\n",
		Dir:        workspace(t),
		Env:        []string{"PLAIN=visible", "TOKEN=" + token},
		SecretKeys: []string{"TOKEN"},
		Image:      img,
		KillGrace:  2 * time.Second,
	}
	done := make(chan error, 1)
	go func() {
		code, err := d.Exec(context.Background(), spec, out)
		if err == nil && code != 0 {
			err = fmt.Errorf("exit code %d", code)
		}
		done <- err
	}()
	inspected := testkit.Poll(20*time.Second, func() bool {
		cs, err := d.cli.ContainerList(context.Background(), container.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelJob+"="+job), filters.Arg("label", LabelRole+"=job"))})
		if err != nil || len(cs) == 0 {
			return false
		}
		insp, err := d.cli.ContainerInspect(context.Background(), cs[0].ID)
		if err != nil {
			return false
		}
		env := strings.Join(insp.Config.Env, "\n")
		if strings.Contains(env, "tok") || !strings.Contains(env, "PLAIN=visible") {
			t.Errorf("container env:\n%s", env)
		}
		return true
	})
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !inspected {
		t.Fatal("never saw the running container")
	}
	if want := "token=" + token + "|plain=visible"; !strings.Contains(out.String(), want) {
		t.Errorf("output %q lacks %q", out, want)
	}
}

func TestDockerExitCodes(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	tests := []struct {
		name, script string
		code         int
		want, not    string
	}{
		{"exit 3", "echo before\nexit 3\n", 3, "before", ""},
		{"errexit", "echo first\nfalse\necho not-reached\n", 1, "first", "not-reached"},
		{"success", "true\n", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := uniqueJob("unit")
			out := &testkit.SyncBuffer{}
			code, err := d.Exec(context.Background(), &ExecSpec{Job: job, Script: tt.script, Dir: workspace(t), Image: img, KillGrace: time.Second}, out)
			if err != nil || code != tt.code {
				t.Fatalf("code %d, err %v, want code %d; output:\n%s", code, err, tt.code, out)
			}
			if !strings.Contains(out.String(), tt.want) || (tt.not != "" && strings.Contains(out.String(), tt.not)) {
				t.Errorf("output:\n%s", out)
			}
			if left := leftovers(t, d, job); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestDockerStopsOnTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	tests := []struct {
		name string
		// stop ends ctx once the script printed "started".
		stop    func(ctx context.Context, started <-chan struct{}) (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"timeout", func(ctx context.Context, _ <-chan struct{}) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 3*time.Second)
		}, context.DeadlineExceeded},
		{"cancel", func(ctx context.Context, started <-chan struct{}) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-started:
					cancel()
				case <-ctx.Done():
				}
			}()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := uniqueJob("slow")
			out := &testkit.SyncBuffer{}
			started := make(chan struct{})
			go func() {
				if testkit.Poll(time.Minute, func() bool { return strings.Contains(out.String(), "started") }) {
					close(started)
				}
			}()
			ctx, cancel := tt.stop(context.Background(), started)
			defer cancel()
			start := time.Now()
			code, err := d.Exec(ctx, &ExecSpec{Job: job, Script: "echo started\nsleep 120\necho finished\n", Dir: workspace(t), Image: img, KillGrace: 2 * time.Second}, out)
			elapsed := time.Since(start)
			if !errors.Is(err, tt.wantErr) || code != -1 {
				t.Fatalf("code %d, err %v, want -1 and %v; output:\n%s", code, err, tt.wantErr, out)
			}
			// Well under the script's 120s: the container was stopped.
			if elapsed > 60*time.Second {
				t.Errorf("Exec returned after %v", elapsed)
			}
			if !strings.Contains(out.String(), "started") || strings.Contains(out.String(), "finished") {
				t.Errorf("output:\n%s", out)
			}
			if left := leftovers(t, d, job); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

func TestDockerMissingImage(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	const ref = "tug-test-missing:nope"
	job := uniqueJob("nope")
	code, err := d.Exec(context.Background(), &ExecSpec{Job: job, Script: "true", Dir: workspace(t), Image: ref}, io.Discard)
	if !errors.Is(err, ErrImageNotFound) || code != -1 {
		t.Fatalf("code %d, err %v, want ErrImageNotFound", code, err)
	}
	if want := `image "tug-test-missing:nope" not found locally (tug pulls only with pull: true)`; !strings.Contains(err.Error(), want) {
		t.Errorf("err %q lacks %q", err, want)
	}
	if _, err := d.ImageID(context.Background(), ref); !errors.Is(err, ErrImageNotFound) {
		t.Errorf("ImageID: err %v", err)
	}
	// A missing service image is as clear, and nothing is left behind.
	img := busyboxImage(t, d)
	_, err = d.Exec(context.Background(), &ExecSpec{Job: job, Script: "true", Dir: workspace(t), Image: img,
		Services: []ServiceSpec{{Name: "db", Image: ref}}}, io.Discard)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), "service db") {
		t.Errorf("service: err %v", err)
	}
	if left := leftovers(t, d, job); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestDockerImageID(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	id, err := d.ImageID(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	insp, err := d.cli.ImageInspect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if id != insp.ID || !strings.HasPrefix(id, "sha256:") {
		t.Errorf("ImageID = %q, want %q", id, insp.ID)
	}
}

func TestDockerServiceReachableByName(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	svc := httpdImage(t, d)
	job := uniqueJob("integration")
	out := &testkit.SyncBuffer{}
	// One try, no retry: the executor must have waited for the health
	// check (the service listens only after 3s).
	script := "wget -qO- http://db:8080/\n"
	code, err := d.Exec(context.Background(), &ExecSpec{
		Job: job, Script: script, Dir: workspace(t), Image: img, KillGrace: time.Second,
		Services: []ServiceSpec{{Name: "db", Image: svc, Env: []string{"GREETING=hello-from-db"}}},
	}, out)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v; output:\n%s", code, err, out)
	}
	if !strings.Contains(out.String(), "hello-from-db") {
		t.Errorf("output:\n%s", out)
	}
	if left := leftovers(t, d, job); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestDockerContainerEnv(t *testing.T) {
	t.Parallel()
	host := map[string]string{"PATH": "/host/bin", "HOME": "/root", "USER": "root", "LANG": "C.UTF-8"}
	d, err := NewDocker(DockerOptions{LookupEnv: func(k string) (string, bool) { v, ok := host[k]; return v, ok }})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"host values dropped, HOME given", []string{"PATH=/host/bin", "HOME=/root", "USER=root", "LANG=C.UTF-8", "A=1"}, []string{"LANG=C.UTF-8", "A=1", "HOME=/tmp"}},
		{"job's own values kept", []string{"PATH=/opt/bin:/usr/bin", "HOME=/work"}, []string{"PATH=/opt/bin:/usr/bin", "HOME=/work"}},
		{"empty", nil, []string{"HOME=/tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.containerEnv(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDockerName(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"build":              "build",
		"unit[go=1.26]":      "unit-go-1.26",
		"unit[go=1.26,os=a]": "unit-go-1.26-os-a",
		"[x]":                "x",
		"Ω":                  "job",
	}
	for in, want := range tests {
		if got := dockerName(in); got != want {
			t.Errorf("dockerName(%q) = %q, want %q", in, got, want)
		}
	}
}

// pullClient answers ImagePull with a canned progress stream; any other
// call panics (nil embedded client), proving ensureImage makes none.
type pullClient struct {
	client.APIClient
	stream string
	pulled []string
	auths  []string
}

func (c *pullClient) ImagePull(_ context.Context, ref string, o image.PullOptions) (io.ReadCloser, error) {
	c.pulled = append(c.pulled, ref)
	c.auths = append(c.auths, o.RegistryAuth)
	return io.NopCloser(strings.NewReader(c.stream)), nil
}

func TestDockerPullStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stream, wantErr string
	}{
		{"ok", `{"status":"Pulling from library/alpine"}` + "\n" + `{"status":"Digest: sha256:abc"}` + "\n", ""},
		{"error in stream", `{"status":"Pulling"}` + "\n" + `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n", "manifest unknown"},
		{"garbage", "not json", "pull image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &pullClient{stream: tt.stream}
			d, err := NewDocker(DockerOptions{Client: c, LookupEnv: noDockerConfig})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = d.ensureImage(context.Background(), "alpine:3", true, &out)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !slices.Equal(c.pulled, []string{"alpine:3"}) || !strings.Contains(out.String(), "pulling image alpine:3") {
				t.Errorf("pulled %v, output %q", c.pulled, out.String())
			}
		})
	}
}

func TestDockerUnhealthyService(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	sick := sickImage(t, d)
	job := uniqueJob("integration")
	code, err := d.Exec(context.Background(), &ExecSpec{
		Job: job, Script: "echo job-ran\n", Dir: workspace(t), Image: img, KillGrace: time.Second,
		Services: []ServiceSpec{{Name: "db", Image: sick}},
	}, io.Discard)
	if err == nil || code != -1 || !strings.Contains(err.Error(), "service db is unhealthy: no database here") {
		t.Fatalf("code %d, err %v; want service db unhealthy", code, err)
	}
	if left := leftovers(t, d, job); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

// A container job sees the workspace but not the project's state
// directory in it: the secrets file there cannot be read or listed, and
// the host's stays as it was.
func TestDockerJobDoesNotSeeTheStateDirectory(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	dir := workspace(t)
	state := filepath.Join(dir, ".tug")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	const value = "s3cret-in-the-state-dir"
	if err := os.WriteFile(filepath.Join(state, "secrets.env"), []byte("TOKEN="+value+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "input.txt"), []byte("from-the-host\n"), 0o644)
	out := &testkit.SyncBuffer{}
	spec := &ExecSpec{
		Job:       uniqueJob("peek"),
		Script:    "cat input.txt\nls -a .tug || true\ncat .tug/secrets.env || true\necho x > .tug/planted || true\n",
		Dir:       dir,
		Image:     img,
		KillGrace: 2 * time.Second,
	}
	code, err := d.Exec(context.Background(), spec, out)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v, output:\n%s", code, err, out)
	}
	if !strings.Contains(out.String(), "from-the-host") || strings.Contains(out.String(), value) || strings.Contains(out.String(), "\nsecrets.env\n") {
		t.Fatalf("the job saw the state directory:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(state, "planted")); err == nil {
		t.Error("the job wrote into the state directory")
	}
	if b, _ := os.ReadFile(filepath.Join(state, "secrets.env")); !strings.Contains(string(b), value) {
		t.Errorf("the host's secrets file changed: %q", b)
	}
}

// TestDockerRemoveLeftovers: the containers and networks a killed tug
// left for a workspace (still running) are removed; another workspace's
// are kept.
func TestDockerRemoveLeftovers(t *testing.T) {
	t.Parallel()
	d := newTestDocker(t)
	img := busyboxImage(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	job := uniqueJob("left")
	dead, other := workspace(t), workspace(t)
	start := func(dir string) string {
		t.Helper()
		labels := map[string]string{LabelOwner: "tug", LabelJob: job, LabelWorkspace: dir}
		c, err := d.cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"sleep", "120"}, Labels: labels}, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
		if err := d.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			t.Fatal(err)
		}
		return c.ID
	}
	start(dead)
	kept := start(other)
	nw, err := d.cli.NetworkCreate(ctx, "tug-test-"+strings.ToLower(rand.Text()[:8]), network.CreateOptions{Driver: "bridge",
		Labels: map[string]string{LabelOwner: "tug", LabelJob: job, LabelWorkspace: dead}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cli.NetworkRemove(context.Background(), nw.ID) })

	n, err := d.RemoveLeftovers(ctx, dead)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v; want 1 container", n, err)
	}
	left := leftovers(t, d, job)
	if len(left) != 1 || !strings.HasPrefix(left[0], "container ") {
		t.Errorf("left: %v, want only the other workspace's container", left)
	}
	if c, err := d.cli.ContainerInspect(ctx, kept); err != nil || !c.State.Running {
		t.Errorf("the other workspace's container: %v", err)
	}
	if n, err := d.RemoveLeftovers(ctx, dead); err != nil || n != 0 {
		t.Errorf("again: removed %d, %v", n, err)
	}
}
