package pipeline

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/tugdev/tug/internal/registry"
)

// ErrImageNotFound means a job's image is not in the local Docker engine
// and the job did not ask tug to pull it.
var ErrImageNotFound = errors.New("image not found locally")

// imageNotFoundError names the missing image; it is an ErrImageNotFound.
type imageNotFoundError struct{ ref string }

func (e *imageNotFoundError) Error() string {
	return fmt.Sprintf("image %q not found locally (tug pulls only with pull: true)", e.ref)
}

func (e *imageNotFoundError) Unwrap() error { return ErrImageNotFound }

// Labels tug puts on every container and network it creates, so that
// leftovers can be found (`docker ps -a --filter label=tug.owner=tug`).
const (
	LabelOwner = "tug.owner"
	LabelJob   = "tug.job"
	LabelRole  = "tug.role"
	// LabelWorkspace is the workspace the job ran in, so the containers
	// of a run whose server was killed can be found and removed.
	LabelWorkspace = "tug.workspace"
)

const (
	// dockerScriptDir holds the job script inside the container.
	dockerScriptDir  = "/.tug"
	dockerScriptPath = dockerScriptDir + "/script"
	// dockerEnvPath holds the job's secrets as shell exports, readable by
	// the job's user only: copied in, not part of the container's
	// configuration, so `docker inspect` shows none of them.
	dockerEnvPath = dockerScriptDir + "/secrets"
	// dockerLauncher runs the script with bash when the image has it (as
	// the host executor does), else with the POSIX sh every image with a
	// shell has (busybox, alpine).
	dockerLauncher = `. ` + dockerEnvPath + ` && if command -v bash >/dev/null 2>&1; then exec bash -eo pipefail ` + dockerScriptPath +
		`; fi; exec sh -e ` + dockerScriptPath
	// dockerCleanupTimeout bounds teardown (stop, remove) after the job's
	// context ended, on top of the kill grace.
	dockerCleanupTimeout = 30 * time.Second
	// dockerDrainTimeout bounds how long Exec waits for the log stream
	// once the container exited.
	dockerDrainTimeout = 5 * time.Second
	// dockerHome is HOME in the container unless the job sets it: the
	// mapped user usually has no home in the image, and tools (go, npm,
	// pip) need a writable one.
	dockerHome = "/tmp"
	// dockerHealthPoll is how often a service's health is checked while
	// the job waits for it.
	dockerHealthPoll = 250 * time.Millisecond
)

// dockerHostOnlyEnv says whether k is a variable the engine inherits from
// tug's environment that describes the host, not the image; the image's
// own value (PATH above all) must win unless the job set it itself.
func dockerHostOnlyEnv(k string) bool {
	switch k {
	case "PATH", "HOME", "USER", "SHELL", "TMPDIR":
		return true
	}
	return false
}

// DockerOptions configures a Docker executor. All fields may be zero.
type DockerOptions struct {
	// Logger gets the executor's diagnostics; nil discards them.
	Logger *slog.Logger
	// UID and GID are the user containers run as, so that files jobs
	// write in the workspace belong to the invoking user; zero means
	// os.Getuid() and os.Getgid().
	UID, GID int
	// LookupEnv reads tug's own environment, to tell variables the engine
	// inherited from the host (dropped in containers) from ones the job
	// set; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Client talks to the Docker engine; nil means one configured from
	// DOCKER_HOST and friends, negotiating the API version.
	Client client.APIClient
}

// stateDirName is tug's state directory beside tug.yaml, hidden from
// container jobs.
const stateDirName = ".tug"

// Docker runs container jobs through the Docker Engine API: the workspace
// bind-mounted at the same path, the script run as the invoking user,
// services as sidecars on a per-job network, everything removed after.
type Docker struct {
	cli       client.APIClient
	log       *slog.Logger
	user      string
	lookupEnv func(string) (string, bool)
}

var (
	_ Executor      = (*Docker)(nil)
	_ ImageResolver = (*Docker)(nil)
)

// NewDocker returns a Docker executor. It does not contact the engine:
// use Ping to learn whether one is reachable.
func NewDocker(opts DockerOptions) (*Docker, error) {
	cli := opts.Client
	if cli == nil {
		c, err := registry.NewClient()
		if err != nil {
			return nil, err
		}
		cli = c
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.UID == 0 {
		opts.UID = os.Getuid()
	}
	if opts.GID == 0 {
		opts.GID = os.Getgid()
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	return &Docker{
		cli:       cli,
		log:       opts.Logger,
		user:      fmt.Sprintf("%d:%d", opts.UID, opts.GID),
		lookupEnv: opts.LookupEnv,
	}, nil
}

// Ping checks that the Docker engine answers.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker engine: %w", err)
	}
	return nil
}

// Close releases the connection to the engine.
func (d *Docker) Close() error { return d.cli.Close() }

// ImageID gives the local image ID ref resolves to, so cache keys follow
// the image's content rather than its tag.
func (d *Docker) ImageID(ctx context.Context, ref string) (string, error) {
	insp, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return "", &imageNotFoundError{ref: ref}
		}
		return "", fmt.Errorf("inspect image %q: %w", ref, err)
	}
	return insp.ID, nil
}

// Exec runs spec.Script in a container of spec.Image. See Executor for
// the contract; on top of it, the image must exist locally unless
// spec.Pull, and spec.Services run as sidecars reachable by their names.
func (d *Docker) Exec(ctx context.Context, spec *ExecSpec, out io.Writer) (int, error) {
	switch {
	case spec.Image == "":
		return -1, fmt.Errorf("job %s: no image", spec.Job)
	case !filepath.IsAbs(spec.Dir):
		return -1, fmt.Errorf("job %s: workspace %q is not an absolute path", spec.Job, spec.Dir)
	}
	if err := ctx.Err(); err != nil {
		return -1, fmt.Errorf("job %s not started: %w", spec.Job, err)
	}
	grace := spec.KillGrace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	log := d.log.With("job", spec.Job)

	// Teardown runs last-in first-out on a context that outlives ctx, so
	// that a cancelled job still leaves nothing behind.
	var teardown []func(context.Context)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanupTimeout+grace)
		defer cancel()
		for _, f := range slices.Backward(teardown) {
			f(cctx)
		}
	}()
	// stopped turns a setup failure caused by ctx into the contract's
	// "stopped" error.
	stopped := func(err error) (int, error) {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("job %s stopped: %w", spec.Job, ctx.Err())
		}
		return -1, fmt.Errorf("job %s: %w", spec.Job, err)
	}

	if err := d.ensureImage(ctx, spec.Image, spec.Pull, out); err != nil {
		return stopped(err)
	}
	for _, s := range spec.Services {
		if err := d.ensureImage(ctx, s.Image, spec.Pull, out); err != nil {
			return stopped(fmt.Errorf("service %s: %w", s.Name, err))
		}
	}

	base := registry.ContainerName(dockerName(spec.Job))
	labels := map[string]string{LabelOwner: "tug", LabelJob: spec.Job, LabelWorkspace: spec.Dir}
	yes := true
	hostCfg := &container.HostConfig{
		// Mounts, not Binds: a workspace path may hold ':' or ','.
		Mounts: []mount.Mount{{Type: mount.TypeBind, Source: spec.Dir, Target: spec.Dir}},
		Init:   &yes, // forwards SIGTERM to the script and reaps orphans
	}
	// The project's state directory (the secret store, the local secrets
	// file, the audit log, run history) is not the job's: an empty,
	// read-only tmpfs covers it in the workspace's mount.
	if fi, err := os.Lstat(filepath.Join(spec.Dir, stateDirName)); err == nil && fi.IsDir() {
		hostCfg.Mounts = append(hostCfg.Mounts, mount.Mount{Type: mount.TypeTmpfs, Target: filepath.Join(spec.Dir, stateDirName), ReadOnly: true,
			TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 4096, Mode: 0o500}})
	}
	var netCfg *network.NetworkingConfig

	if len(spec.Services) > 0 {
		netName := base
		if _, err := d.cli.NetworkCreate(ctx, netName, network.CreateOptions{Driver: "bridge", Labels: labels}); err != nil {
			return stopped(fmt.Errorf("create network %s for services (the Docker engine refused): %w", netName, err))
		}
		teardown = append(teardown, func(cctx context.Context) {
			if err := d.cli.NetworkRemove(cctx, netName); err != nil {
				log.Warn("remove network", "network", netName, "err", err)
			}
		})
		hostCfg.NetworkMode = container.NetworkMode(netName)
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {}}}
		var started []string
		for _, s := range spec.Services {
			id, err := d.startService(ctx, spec.Job, netName, base, s, labels)
			if id != "" {
				teardown = append(teardown, d.remover(log, id))
			}
			if err != nil {
				return stopped(fmt.Errorf("service %s: %w", s.Name, err))
			}
			started = append(started, id)
		}
		for i, id := range started {
			if err := d.waitService(ctx, id, spec.Services[i].Name, out); err != nil {
				return stopped(err)
			}
		}
	}

	jobLabels := dockerLabels(labels, LabelRole, "job")
	created, err := d.cli.ContainerCreate(ctx, &container.Config{
		Image:      spec.Image,
		Entrypoint: []string{"/bin/sh", "-c", dockerLauncher},
		Env:        d.containerEnv(withoutKeys(spec.Env, spec.SecretKeys)),
		WorkingDir: spec.Dir,
		User:       d.user,
		Labels:     jobLabels,
	}, hostCfg, netCfg, nil, base)
	if err != nil {
		return stopped(fmt.Errorf("create container from %s: %w", spec.Image, err))
	}
	id := created.ID
	teardown = append(teardown, d.remover(log, id))
	for _, w := range created.Warnings {
		log.Warn("docker", "warning", w)
	}

	script, err := d.scriptArchive(spec.Script, secretExports(spec.Env, spec.SecretKeys))
	if err != nil {
		return stopped(err)
	}
	if err := d.cli.CopyToContainer(ctx, id, "/", script, container.CopyToContainerOptions{}); err != nil {
		return stopped(fmt.Errorf("copy script into container: %w", err))
	}

	// Attach before start so that no output is lost.
	att, err := d.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return stopped(fmt.Errorf("attach to container: %w", err))
	}
	defer att.Close()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if _, err := stdcopy.StdCopy(out, out, att.Reader); err != nil {
			log.Debug("log stream ended", "err", err)
		}
	}()

	// The wait must not end with ctx: a stop is handled on its own below.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	waitC, waitErrC := d.cli.ContainerWait(waitCtx, id, container.WaitConditionNextExit)

	if err := d.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return stopped(fmt.Errorf("start container from %s: %w", spec.Image, err))
	}
	log.Debug("container started", "container", registry.ShortID(id), "image", spec.Image)

	select {
	case <-ctx.Done():
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dockerCleanupTimeout+grace)
		secs := int((grace + time.Second - 1) / time.Second)
		if err := d.cli.ContainerStop(cctx, id, container.StopOptions{Timeout: &secs}); err != nil {
			log.Warn("stop container", "container", registry.ShortID(id), "err", err)
		}
		cancel()
		// Whatever the wait says now, the job was stopped.
		dockerDrain(copied)
		return -1, fmt.Errorf("job %s stopped: %w", spec.Job, ctx.Err())
	case err := <-waitErrC:
		return -1, fmt.Errorf("job %s: wait for container: %w", spec.Job, err)
	case res := <-waitC:
		dockerDrain(copied)
		if res.Error != nil && res.Error.Message != "" {
			return -1, fmt.Errorf("job %s: container: %s", spec.Job, res.Error.Message)
		}
		return int(res.StatusCode), nil
	}
}

// startService creates and starts one sidecar on netName with its name as
// network alias. It returns the container ID as soon as one exists, so
// that the caller removes it even when starting failed.
func (d *Docker) startService(ctx context.Context, job, netName, base string, s ServiceSpec, labels map[string]string) (string, error) {
	yes := true
	l := dockerLabels(labels, LabelRole, "service")
	l["tug.service"] = s.Name
	created, err := d.cli.ContainerCreate(ctx, &container.Config{
		Image:  s.Image,
		Env:    s.Env,
		Labels: l,
	}, &container.HostConfig{NetworkMode: container.NetworkMode(netName), Init: &yes},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			netName: {Aliases: []string{s.Name}},
		}}, nil, base+"-"+dockerName(s.Name))
	if err != nil {
		return "", fmt.Errorf("create container from %s: %w", s.Image, err)
	}
	if err := d.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return created.ID, fmt.Errorf("start container from %s: %w", s.Image, err)
	}
	d.log.Debug("service started", "job", job, "service", s.Name, "container", registry.ShortID(created.ID))
	return created.ID, nil
}

// waitService returns once a started sidecar can serve: at once when its
// image has no HEALTHCHECK, else when the check passes. A sidecar that
// exits or turns unhealthy is an error, so the job does not fail later on
// a confusing connection error.
func (d *Docker) waitService(ctx context.Context, id, name string, out io.Writer) error {
	tick := time.NewTicker(dockerHealthPoll)
	defer tick.Stop()
	announced := false
	for {
		insp, err := d.cli.ContainerInspect(ctx, id)
		if err != nil {
			return fmt.Errorf("service %s: inspect: %w", name, err)
		}
		st := insp.State
		switch {
		case st == nil:
			return nil
		case !st.Running:
			return fmt.Errorf("service %s exited with code %d before the job started", name, st.ExitCode)
		case st.Health == nil || st.Health.Status == container.Healthy:
			return nil
		case st.Health.Status == container.Unhealthy:
			msg := ""
			if n := len(st.Health.Log); n > 0 {
				msg = ": " + strings.TrimSpace(st.Health.Log[n-1].Output)
			}
			return fmt.Errorf("service %s is unhealthy%s", name, msg)
		}
		if !announced {
			fmt.Fprintf(out, "tug: waiting for service %s to be healthy\n", name)
			announced = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// RemoveLeftovers force-removes the containers and networks of jobs that
// ran in dir (a workspace whose run was cut off), and returns how many
// containers it removed.
func (d *Docker) RemoveLeftovers(ctx context.Context, dir string) (int, error) {
	f := filters.NewArgs(filters.Arg("label", LabelOwner+"=tug"), filters.Arg("label", LabelWorkspace+"="+dir))
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err == nil || cerrdefs.IsNotFound(err) {
			n++
		}
	}
	nets, err := d.cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err == nil {
		for _, nw := range nets {
			_ = d.cli.NetworkRemove(ctx, nw.ID)
		}
	}
	return n, nil
}

// remover force-removes a container (stopping it if needed) at teardown.
func (d *Docker) remover(log *slog.Logger, id string) func(context.Context) {
	return func(cctx context.Context) {
		err := d.cli.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			log.Warn("remove container", "container", registry.ShortID(id), "err", err)
		}
	}
}

// ensureImage checks that ref is present locally, pulling it when pull is
// set, with the credentials the docker CLI would use.
func (d *Docker) ensureImage(ctx context.Context, ref string, pull bool, out io.Writer) error {
	if !pull {
		_, err := d.ImageID(ctx, ref)
		return err
	}
	creds, err := registry.Lookup(ctx, ref, d.lookupEnv)
	if err != nil {
		return fmt.Errorf("pull image %q: %w", ref, err)
	}
	if creds.Source != "" {
		fmt.Fprintf(out, "tug: pulling image %s (credentials from %s)\n", ref, creds.Source)
	} else {
		fmt.Fprintf(out, "tug: pulling image %s\n", ref)
	}
	if err := registry.Pull(ctx, d.cli, ref, creds); err != nil {
		return fmt.Errorf("pull image %q: %w", ref, err)
	}
	return nil
}

// containerEnv drops the host-describing variables the engine inherited
// from tug's environment (a value equal to tug's own), so the image's
// PATH applies, and gives the mapped user a HOME.
func (d *Docker) containerEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	hasHome := false
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if dockerHostOnlyEnv(k) {
			if hv, ok := d.lookupEnv(k); ok && hv == v {
				continue
			}
		}
		if k == "HOME" {
			hasHome = true
		}
		out = append(out, kv)
	}
	if !hasHome {
		out = append(out, "HOME="+dockerHome)
	}
	return out
}

// scriptArchive is a tar holding the script at dockerScriptPath (readable
// by any user) and the secret exports at dockerEnvPath (the job user's
// only), relative to "/".
func (d *Docker) scriptArchive(script, secrets string) (io.Reader, error) {
	uid, gid := d.userIDs()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := strings.TrimPrefix(dockerScriptDir, "/")
	files := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dockerScriptPath, "/"), Mode: 0o644, Size: int64(len(script))},
		{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dockerEnvPath, "/"), Mode: 0o400, Uid: uid, Gid: gid, Size: int64(len(secrets))},
	}
	for i, body := range []string{"", script, secrets} {
		if err := tw.WriteHeader(files[i]); err != nil {
			return nil, fmt.Errorf("script archive: %w", err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return nil, fmt.Errorf("script archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("script archive: %w", err)
	}
	return &buf, nil
}

// userIDs are the uid and gid jobs run as (d.user is "uid:gid").
func (d *Docker) userIDs() (int, int) {
	u, g, _ := strings.Cut(d.user, ":")
	uid, _ := strconv.Atoi(u)
	gid, _ := strconv.Atoi(g)
	return uid, gid
}

// secretExports is a POSIX shell script exporting env's entries named in
// keys, each value single-quoted.
func secretExports(env, keys []string) string {
	var b strings.Builder
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if slices.Contains(keys, k) {
			b.WriteString("export " + k + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'\n")
		}
	}
	return b.String()
}

// withoutKeys is env without the entries named in keys.
func withoutKeys(env, keys []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(keys, k) {
			out = append(out, kv)
		}
	}
	return out
}

// dockerName maps a job or service name onto Docker's name alphabet
// ([a-zA-Z0-9][a-zA-Z0-9_.-]*): "unit[go=1.26]" -> "unit-go-1.26".
func dockerName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-_.")
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	if len(name) > 40 {
		name = name[:40]
	}
	if name == "" {
		name = "job"
	}
	return name
}

func dockerLabels(labels map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(labels)+2)
	for lk, lv := range labels {
		out[lk] = lv
	}
	out[k] = v
	return out
}

// drain waits a bounded time for the log stream to end.
func dockerDrain(copied <-chan struct{}) {
	t := time.NewTimer(dockerDrainTimeout)
	defer t.Stop()
	select {
	case <-copied:
	case <-t.C:
	}
}
