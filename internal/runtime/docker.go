package runtime

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/tugdev/tug/internal/registry"
)

// Labels on every container the Docker runtime creates. LabelOwner ties
// a container to one runtime owner (one server's state dir), so two
// servers, or tests, never adopt each other's containers.
const (
	LabelOwner       = "tug.owner"
	LabelService     = "tug.service"
	LabelEnvironment = "tug.environment"
	LabelRelease     = "tug.release"
	LabelInstance    = "tug.instance"
	// LabelHostPort records the loopback port the container is published
	// on, so an adopted, stopped container still has its address.
	LabelHostPort = "tug.host_port"
)

// DockerOptions configures a Docker runtime. Owner is required; the rest
// may be zero.
type DockerOptions struct {
	// Client talks to the engine; nil means one from DOCKER_HOST and
	// friends (closed by Close).
	Client client.APIClient
	// Owner is the tug.owner label value of this runtime's containers.
	Owner string
	// Logger gets supervision events; nil discards them.
	Logger *slog.Logger
	// Now is the clock for uptimes and crash windows; nil means time.Now.
	Now func() time.Time
	// Restart is the backoff and crash-loop policy; zero fields take the
	// contract's numbers.
	Restart RestartPolicy
	// LookupEnv reads the environment for the docker CLI's config (registry
	// credentials); nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// StateDir keeps each instance's restart count and crash history, so
	// a runtime adopting its container carries on counting; "" keeps
	// them in memory only.
	StateDir string
	// SecretsInit is a static tug binary. Given (with StateDir), an
	// instance's secrets reach it through a file that `tug secret-env`,
	// mounted as the container's entrypoint, reads before it execs the
	// image's own: `docker inspect` then shows no secret value. Without
	// it they are part of the container's environment.
	SecretsInit string
	// PollInterval is the pause before retrying after the engine failed
	// to answer a wait (1s).
	PollInterval time.Duration
}

// Docker runs instances as containers in the Docker engine. The engine's
// restart policy is off: tug watches each container (ContainerWait) and
// restarts it itself, with the contract's backoff and crash-loop rules.
//
// The container port Spec.Port is published on 127.0.0.1 at a host port
// picked once at create time and kept: the engine would choose a new one
// on every start (seen on engine 20.10), and an instance's Addr must not
// move when it is restarted. Spec.Command and Spec.Dir are not used: the
// image's entrypoint runs. Secrets go into the container's environment,
// through a file when DockerOptions.SecretsInit is set; restarts reuse
// the container, so an adopting runtime needs none.
// Restart counts and crash history survive adoption in
// DockerOptions.StateDir.
type Docker struct {
	supervisor  // mu guards insts and starting too
	cli         client.APIClient
	ownClient   bool
	owner       string
	poll        time.Duration
	stateDir    string
	lookupEnv   func(string) (string, bool)
	secretsInit string
	masks       maskers // per instance, for its logs

	insts    map[string]*ctrInst
	starting map[string]bool
}

var _ Runtime = (*Docker)(nil)

// ctrInst is one container instance; fields are guarded by Docker.mu.
type ctrInst struct {
	supervision
	d        *Docker
	id, cid  string
	labels   map[string]string
	hostPort int
}

var _ driver = (*ctrInst)(nil)

// NewDocker returns a Docker runtime. It does not contact the engine.
func NewDocker(opts DockerOptions) (*Docker, error) {
	if opts.Owner == "" {
		return nil, errors.New("docker runtime: Owner is required")
	}
	d := &Docker{
		cli:         opts.Client,
		owner:       opts.Owner,
		poll:        opts.PollInterval,
		stateDir:    opts.StateDir,
		lookupEnv:   opts.LookupEnv,
		secretsInit: opts.SecretsInit,
		insts:       map[string]*ctrInst{},
		starting:    map[string]bool{},
	}
	if d.cli == nil {
		c, err := registry.NewClient()
		if err != nil {
			return nil, fmt.Errorf("docker runtime: %w", err)
		}
		d.cli, d.ownClient = c, true
	}
	d.init(opts.Logger, opts.Now, opts.Restart)
	if d.poll <= 0 {
		d.poll = time.Second
	}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	return d, nil
}

// ResolveImage returns the image ID ref names: a docker service's
// release is its image ID, so a retag never changes what runs. An image
// the engine lacks is pulled first, with the credentials `docker pull`
// would use; one that cannot be had is an ErrImageNotFound naming ref.
func (d *Docker) ResolveImage(ctx context.Context, ref string) (string, error) {
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("spec.image: empty")
	}
	insp, err := d.cli.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		if perr := d.PullImage(ctx, ref); perr != nil {
			return "", fmt.Errorf("%w: image %q is not in the local Docker engine, and pulling it failed: %v", ErrImageNotFound, ref, perr)
		}
		insp, err = d.cli.ImageInspect(ctx, ref)
	}
	if err != nil {
		return "", fmt.Errorf("inspect image %q: %w", ref, err)
	}
	return insp.ID, nil
}

// PullImage pulls ref with the credentials `docker pull` would use.
func (d *Docker) PullImage(ctx context.Context, ref string) error {
	creds, err := registry.Lookup(ctx, ref, d.lookupEnv)
	if err != nil {
		return err
	}
	d.log.Info("pulling image", "image", ref, "credentials", cmp.Or(creds.Source, "none"))
	return registry.Pull(ctx, d.cli, ref, creds)
}

func validateDockerSpec(spec Spec) error {
	if err := validID(spec.ID); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(spec.Image) == "":
		return fmt.Errorf("instance %s: spec.image: empty", spec.ID)
	case spec.Port <= 0 || spec.Port > 65535:
		return fmt.Errorf("instance %s: spec.port %d: a container instance needs the port its app listens on (1-65535)", spec.ID, spec.Port)
	}
	return validEnv(spec)
}

// Start creates and starts a container for spec. See Runtime; on top of
// it, the image must be in the local engine and Spec.Port set.
func (d *Docker) Start(ctx context.Context, spec Spec) (Instance, error) {
	if err := validateDockerSpec(spec); err != nil {
		return Instance{}, err
	}
	if err := ctx.Err(); err != nil {
		return Instance{}, fmt.Errorf("instance %s not started: %w", spec.ID, err)
	}
	d.mu.Lock()
	switch {
	case d.isClosed:
		d.mu.Unlock()
		return Instance{}, fmt.Errorf("instance %s: %w", spec.ID, ErrClosed)
	case d.insts[spec.ID] != nil || d.starting[spec.ID]:
		d.mu.Unlock()
		return Instance{}, fmt.Errorf("%w: %s", ErrExists, spec.ID)
	}
	d.starting[spec.ID] = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.starting, spec.ID)
		d.mu.Unlock()
	}()

	if cs, err := d.containers(ctx, spec.ID); err != nil {
		return Instance{}, fmt.Errorf("%w: instance %s: %w", ErrStart, spec.ID, err)
	} else if len(cs) > 0 {
		return Instance{}, fmt.Errorf("%w: %s (container %s)", ErrExists, spec.ID, registry.ShortID(cs[0].ID))
	}
	imageID, err := d.ResolveImage(ctx, spec.Image)
	if err != nil {
		return Instance{}, fmt.Errorf("%w: instance %s: %w", ErrStart, spec.ID, err)
	}
	cid, hostPort, err := d.create(ctx, spec, imageID)
	if err != nil {
		return Instance{}, fmt.Errorf("%w: instance %s: %w", ErrStart, spec.ID, err)
	}
	d.masks.set(spec.ID, spec.Secrets)
	in := d.newInst(spec.ID, cid, d.labels(spec, hostPort), hostPort)
	in.state, in.startedAt = Running, d.now()

	d.mu.Lock()
	defer d.mu.Unlock()
	// Closed while starting: the container runs on, a later runtime adopts it.
	d.watch(&in.supervision, in, d.instLog(in))
	d.insts[spec.ID] = in
	d.log.Info("instance started", "instance", spec.ID, "container", registry.ShortID(cid), "addr", d.addr(hostPort))
	return d.snapshot(in), nil
}

func (d *Docker) labels(spec Spec, hostPort int) map[string]string {
	return map[string]string{
		LabelOwner:       d.owner,
		LabelService:     spec.Service,
		LabelEnvironment: spec.Environment,
		LabelRelease:     spec.Release,
		LabelInstance:    spec.ID,
		LabelHostPort:    strconv.Itoa(hostPort),
		LabelSecrets:     secretNames(spec),
	}
}

// create creates and starts the container on a free loopback port, trying
// another port when the engine finds the one picked taken meanwhile.
func (d *Docker) create(ctx context.Context, spec Spec, imageID string) (string, int, error) {
	port := nat.Port(strconv.Itoa(spec.Port) + "/tcp")
	env := make([]string, 0, len(spec.Env)+len(spec.Secrets)+1)
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	var viaFile *secretsEntry
	if d.secretsByFile(spec) {
		var err error
		if viaFile, err = d.secretsFile(ctx, spec, imageID); err != nil {
			return "", 0, err
		}
	} else {
		for _, k := range slices.Sorted(maps.Keys(spec.Secrets)) {
			env = append(env, k+"="+spec.Secrets[k].Reveal())
		}
	}
	env = append(env, "PORT="+strconv.Itoa(spec.Port))

	// An init process as PID 1 forwards SIGTERM to the app (which, as PID
	// 1 itself, would ignore it unless it handles it) and reaps zombies.
	yes := true
	var lastErr error
	for range 3 {
		hostPort, err := freePort()
		if err != nil {
			return "", 0, fmt.Errorf("pick a host port: %w", err)
		}
		cfg := &container.Config{
			Image:        imageID,
			Env:          env,
			Labels:       d.labels(spec, hostPort),
			ExposedPorts: nat.PortSet{port: {}},
		}
		hc := &container.HostConfig{
			PortBindings:  nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(hostPort)}}},
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			Init:          &yes,
		}
		if viaFile != nil {
			viaFile.apply(cfg, hc)
		}
		created, err := d.cli.ContainerCreate(ctx, cfg, hc, nil, nil, registry.ContainerName(spec.ID))
		if err != nil {
			return "", 0, fmt.Errorf("create container from %s: %w", spec.Image, err)
		}
		for _, w := range created.Warnings {
			d.log.Warn("docker", "instance", spec.ID, "warning", w)
		}
		err = d.cli.ContainerStart(ctx, created.ID, container.StartOptions{})
		if err == nil {
			return created.ID, hostPort, nil
		}
		d.remove(ctx, created.ID)
		lastErr = fmt.Errorf("start container from %s: %w", spec.Image, err)
		if msg := err.Error(); !strings.Contains(msg, "already allocated") && !strings.Contains(msg, "address already in use") {
			break
		}
	}
	return "", 0, lastErr
}

// remove force-removes a container, on a context that outlives ctx.
func (d *Docker) remove(ctx context.Context, cid string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := d.cli.ContainerRemove(cctx, cid, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", registry.ShortID(cid), err)
	}
	return nil
}

func (d *Docker) newInst(id, cid string, labels map[string]string, hostPort int) *ctrInst {
	return &ctrInst{supervision: d.supervision(), d: d, id: id, cid: cid, labels: labels, hostPort: hostPort}
}

func (d *Docker) instLog(in *ctrInst) *slog.Logger {
	return d.log.With("instance", in.id, "container", registry.ShortID(in.cid))
}

// containers lists this owner's containers, of one instance when id is
// not empty.
func (d *Docker) containers(ctx context.Context, id string) ([]container.Summary, error) {
	f := filters.NewArgs(filters.Arg("label", LabelOwner+"="+d.owner))
	if id != "" {
		f.Add("label", LabelInstance+"="+id)
	}
	cs, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	return cs, nil
}

// wait returns how the container stopped, or errGone when it no longer
// exists. Engine errors are retried.
func (in *ctrInst) wait(ctx context.Context) (string, error) {
	d := in.d
	for {
		waitC, errC := d.cli.ContainerWait(ctx, in.cid, container.WaitConditionNotRunning)
		select {
		case res := <-waitC:
			exit := "exit status " + strconv.FormatInt(res.StatusCode, 10)
			if res.Error != nil && res.Error.Message != "" {
				exit += ": " + res.Error.Message
			}
			return exit, nil
		case err := <-errC:
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if cerrdefs.IsNotFound(err) {
				return "", errGone
			}
			d.log.Debug("wait for container", "instance", in.id, "err", err)
		}
		if !sleep(ctx, d.poll) {
			return "", ctx.Err()
		}
	}
}

// start starts the container again (restarts reuse it).
func (in *ctrInst) start(ctx context.Context) error {
	err := in.d.cli.ContainerStart(ctx, in.cid, container.StartOptions{})
	if cerrdefs.IsNotFound(err) {
		return errGone
	}
	return err
}

func (in *ctrInst) save() {
	in.d.mu.Lock()
	r := in.record()
	in.d.mu.Unlock()
	in.d.saveHistory(in.id, r)
}

func (in *ctrInst) gone() {
	d := in.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !in.stopping {
		delete(d.insts, in.id)
		d.dropHistory(in.id)
		d.dropSecrets(in.id)
	}
}

// Stop stops the container (SIGTERM, up to grace rounded up to whole
// seconds, then SIGKILL) and removes it.
func (d *Docker) Stop(ctx context.Context, id string, grace time.Duration) error {
	in, err := d.lookup(ctx, id)
	if err != nil {
		return err
	}
	if first, err := d.halt(ctx, id, &in.supervision); !first {
		return err
	}
	secs := int((grace + time.Second - 1) / time.Second)
	if err := d.cli.ContainerStop(ctx, in.cid, container.StopOptions{Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("stop container; removing it by force", "instance", id, "err", err)
	}
	err = d.remove(ctx, in.cid)
	if err == nil {
		d.dropHistory(id)
		d.dropSecrets(id)
	}
	d.stopped(&in.supervision, func() { delete(d.insts, id) })
	if err != nil {
		return fmt.Errorf("stop instance %s: %w", id, err)
	}
	d.log.Info("instance stopped", "instance", id, "container", registry.ShortID(in.cid))
	return nil
}

// lookup finds a known instance or adopts it from the engine.
func (d *Docker) lookup(ctx context.Context, id string) (*ctrInst, error) {
	d.mu.Lock()
	in := d.insts[id]
	d.mu.Unlock()
	if in != nil {
		return in, nil
	}
	if validID(id) != nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	cs, err := d.containers(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	d.adopt(ctx, cs)
	d.mu.Lock()
	in = d.insts[id]
	d.mu.Unlock()
	if in == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return in, nil
}

// adopt takes over containers an earlier runtime of the same owner
// created, and supervises them (unless closed).
func (d *Docker) adopt(ctx context.Context, cs []container.Summary) {
	for _, c := range cs {
		id := c.Labels[LabelInstance]
		d.mu.Lock()
		known := d.insts[id] != nil || d.starting[id]
		d.mu.Unlock()
		if id == "" || known || validID(id) != nil {
			continue
		}
		hostPort, _ := strconv.Atoi(c.Labels[LabelHostPort])
		in := d.newInst(id, c.ID, maps.Clone(c.Labels), hostPort)
		in.state = Restarting
		d.loadHistory(in)
		if insp, err := d.cli.ContainerInspect(ctx, c.ID); err == nil && insp.State != nil {
			if insp.State.Running {
				in.state = Running
			}
			if t, err := time.Parse(time.RFC3339Nano, insp.State.StartedAt); err == nil {
				in.startedAt = t
			}
		} else if c.State == container.StateRunning {
			in.state = Running
		}
		d.mu.Lock()
		if d.insts[id] != nil || d.starting[id] {
			d.mu.Unlock()
			in.cancel()
			continue
		}
		d.insts[id] = in
		d.watch(&in.supervision, in, d.instLog(in))
		d.mu.Unlock()
		d.log.Info("instance adopted", "instance", id, "container", registry.ShortID(c.ID), "state", in.state)
	}
}

// List returns this owner's instances, adopting containers an earlier
// runtime created.
func (d *Docker) List(ctx context.Context) ([]Instance, error) {
	cs, err := d.containers(ctx, "")
	if err != nil {
		return nil, err
	}
	d.adopt(ctx, cs)
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Instance, 0, len(d.insts))
	for _, in := range d.insts {
		if !in.stopping {
			out = append(out, d.snapshot(in))
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (d *Docker) addr(hostPort int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(hostPort))
}

// snapshot describes in; d.mu is held.
func (d *Docker) snapshot(in *ctrInst) Instance {
	inst := Instance{
		ID:          in.id,
		Service:     in.labels[LabelService],
		Environment: in.labels[LabelEnvironment],
		Release:     in.labels[LabelRelease],
		Addr:        d.addr(in.hostPort),
		ContainerID: in.cid,
	}
	d.describe(&in.supervision, &inst)
	return inst
}

// Logs returns up to n last lines of the container's stdout and stderr,
// interleaved as the engine recorded them.
func (d *Docker) Logs(ctx context.Context, id string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	in, err := d.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	rc, err := d.cli.ContainerLogs(ctx, in.cid, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", id, err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", id, err)
	}
	lines := splitLines(buf.Bytes())
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if err := d.maskLines(ctx, in, len(lines), func(i int) *string { return &lines[i] }); err != nil {
		return nil, err
	}
	return lines, nil
}

// Close stops supervision; containers keep running, and a later runtime
// with the same Owner adopts them.
func (d *Docker) Close() error {
	if !d.shutdown() {
		return nil
	}
	if d.ownClient {
		return d.cli.Close()
	}
	return nil
}
