package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// ProcessOptions configures a process runtime. StateDir is required; the
// rest may be zero.
type ProcessOptions struct {
	// StateDir holds instances/<id>/{state.json,output.log*}. One runtime
	// value at a time may use a StateDir.
	StateDir string
	// Logger gets supervision events (exits, restarts, crash loops); nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock for uptimes and crash windows; nil means time.Now.
	Now func() time.Time
	// Restart is the backoff and crash-loop policy; zero fields take the
	// contract's numbers.
	Restart RestartPolicy
	// PollInterval is how often adopted processes are checked for life and
	// log files for size (1s).
	PollInterval time.Duration
	// LogMaxBytes is the size past which an instance's log is rotated
	// (10 MiB); LogKeep is how many rotated generations are kept (3).
	LogMaxBytes int64
	LogKeep     int
	// Environ is the base environment of every instance, below Spec.Env,
	// Spec.Secrets and $PORT; nil means os.Environ (so PATH, HOME and
	// friends reach the app).
	Environ func() []string
	// MaskLog is the argv that starts tug's masking writer (`tug
	// mask-log`, the instance ID is added): an instance with secrets
	// writes its output through it, so its log holds none of their
	// values (see masklog.go). Nil writes output unmasked.
	MaskLog []string
}

// Process runs instances as process groups on this host. Each instance
// is `bash -c Spec.Command` in Spec.Dir, in its own process group (a
// Ctrl-C on the server's terminal does not reach it), writing stdout and
// stderr straight into StateDir/instances/<id>/output.log, so it goes on
// running and logging when the server dies.
//
// Secrets: state files hold secret names only. Values live in memory, so
// a runtime that adopts an instance from an earlier server does not know
// them; call SetSecrets after List (before any restart is needed) to hand
// them back. A restart that lacks some is done without them and logged.
type Process struct {
	supervisor // mu guards insts too; wg also counts the log rotator
	opts       ProcessOptions
	dir        string // StateDir/instances
	poll       time.Duration
	maxB       int64
	keep       int
	envFn      func() []string

	insts map[string]*procInst
}

var _ Runtime = (*Process)(nil)

// procRun is one OS process of an instance: a child of this server
// (waited on) or an adopted one (polled).
type procRun struct {
	pid   int
	start uint64
	child bool
	// exited is closed once a child has been waited for; err is Wait's
	// error, set before.
	exited chan struct{}
	err    error
}

// procInst is one instance. Fields are guarded by Process.mu, except
// logMu which serialises log rotation and reads.
type procInst struct {
	supervision
	p       *Process
	id      string // immutable
	st      processState
	secrets map[string]secret.Value
	run     *procRun // nil while restarting
	logMu   sync.Mutex
}

var _ driver = (*procInst)(nil)

// NewProcess returns a process runtime on opts.StateDir, creating it. It
// adopts nothing until List is called.
func NewProcess(opts ProcessOptions) (*Process, error) {
	if opts.StateDir == "" {
		return nil, errors.New("process runtime: StateDir is required")
	}
	dir := filepath.Join(opts.StateDir, "instances")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	p := &Process{
		opts:  opts,
		dir:   dir,
		poll:  opts.PollInterval,
		maxB:  opts.LogMaxBytes,
		keep:  opts.LogKeep,
		envFn: opts.Environ,
		insts: map[string]*procInst{},
	}
	p.init(opts.Logger, opts.Now, opts.Restart)
	if p.poll <= 0 {
		p.poll = time.Second
	}
	if p.maxB <= 0 {
		p.maxB = 10 << 20
	}
	if p.keep <= 0 {
		p.keep = 3
	}
	if p.envFn == nil {
		p.envFn = os.Environ
	}
	p.wg.Add(1)
	go p.rotator()
	return p, nil
}

func (p *Process) instDir(id string) string { return filepath.Join(p.dir, id) }

// validateProcessSpec checks what a process instance needs.
func validateProcessSpec(spec Spec) error {
	if err := validID(spec.ID); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(spec.Command) == "":
		return fmt.Errorf("instance %s: spec.command: empty", spec.ID)
	case spec.Dir == "" || !filepath.IsAbs(spec.Dir):
		return fmt.Errorf("instance %s: spec.dir %q: must be an absolute path", spec.ID, spec.Dir)
	case spec.Port < 0 || spec.Port > 65535:
		return fmt.Errorf("instance %s: spec.port %d: out of range 0-65535", spec.ID, spec.Port)
	}
	return validEnv(spec)
}

// Start runs spec as a new instance. See Runtime; on top of it, Spec.Dir
// must be an absolute path and the ID new to this StateDir.
func (p *Process) Start(ctx context.Context, spec Spec) (Instance, error) {
	if err := validateProcessSpec(spec); err != nil {
		return Instance{}, err
	}
	if err := ctx.Err(); err != nil {
		return Instance{}, fmt.Errorf("instance %s not started: %w", spec.ID, err)
	}
	if fi, err := os.Stat(spec.Dir); err != nil || !fi.IsDir() {
		return Instance{}, fmt.Errorf("%w: instance %s: spec.dir %q is not a directory", ErrStart, spec.ID, spec.Dir)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed {
		return Instance{}, fmt.Errorf("instance %s: %w", spec.ID, ErrClosed)
	}
	dir := p.instDir(spec.ID)
	if _, ok := p.insts[spec.ID]; ok {
		return Instance{}, fmt.Errorf("%w: %s", ErrExists, spec.ID)
	}
	if err := os.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		return Instance{}, fmt.Errorf("%w: %s (%s)", ErrExists, spec.ID, dir)
	} else if err != nil {
		return Instance{}, fmt.Errorf("%w: instance %s: %w", ErrStart, spec.ID, err)
	}
	port := spec.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			os.RemoveAll(dir)
			return Instance{}, fmt.Errorf("%w: instance %s: pick a port: %w", ErrStart, spec.ID, err)
		}
	}
	in := p.newInst(spec.ID, newProcessState(spec))
	in.secrets = maps.Clone(spec.Secrets)
	in.st.Port = port
	run, err := p.spawn(in.st.Spec, in.secrets, port)
	if err != nil {
		os.RemoveAll(dir)
		return Instance{}, fmt.Errorf("%w: instance %s: %w", ErrStart, spec.ID, err)
	}
	in.run = run
	in.state, in.startedAt = Running, p.now()
	in.st.PID, in.st.StartTime = run.pid, run.start
	if err := saveState(dir, in.stateFile()); err != nil {
		// Without a state file no later server could find it: undo.
		p.killRun(context.Background(), run, 0)
		os.RemoveAll(dir)
		return Instance{}, fmt.Errorf("%w: %w", ErrStart, err)
	}
	p.insts[spec.ID] = in
	p.watch(&in.supervision, in, p.log.With("instance", spec.ID))
	p.log.Info("instance started", "instance", spec.ID, "pid", run.pid, "port", port)
	return p.snapshot(in), nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// spawn starts one process of an instance, its output appended to the
// instance's log file.
func (p *Process) spawn(spec Spec, secrets map[string]secret.Value, port int) (*procRun, error) {
	logf, err := p.output(spec.ID, secrets)
	if err != nil {
		return nil, err
	}
	// The child gets its own copy of the descriptor.
	defer logf.Close()
	cmd := exec.Command("bash", "-c", spec.Command)
	cmd.Dir = spec.Dir
	cmd.Env = p.environ(spec, secrets, port)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	run := &procRun{pid: cmd.Process.Pid, child: true, exited: make(chan struct{})}
	if st, err := readProcStat(run.pid); err == nil {
		run.start = st.start
	}
	// This goroutine reaps the child even after Close, so no zombie is
	// left in a server that goes on running.
	go func() {
		run.err = cmd.Wait()
		close(run.exited)
	}()
	return run, nil
}

// environ is the base environment, then Spec.Env, then secrets, then
// $PORT; exec keeps the last value of a repeated name.
func (p *Process) environ(spec Spec, secrets map[string]secret.Value, port int) []string {
	env := slices.Clone(p.envFn())
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	for _, k := range slices.Sorted(maps.Keys(secrets)) {
		env = append(env, k+"="+secrets[k].Reveal())
	}
	return append(env, "PORT="+strconv.Itoa(port))
}

// newInst returns an instance of st, not yet supervised.
func (p *Process) newInst(id string, st processState) *procInst {
	return &procInst{supervision: p.supervision(), p: p, id: id, st: st}
}

// wait returns how the instance's process ended. A nil run (adopted
// after it died) has already ended.
func (in *procInst) wait(ctx context.Context) (string, error) {
	p := in.p
	p.mu.Lock()
	run := in.run
	p.mu.Unlock()
	exit, err := p.waitRun(ctx, run)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	in.run = nil
	in.st.PID, in.st.StartTime = 0, 0
	p.mu.Unlock()
	return exit, nil
}

// start spawns the instance again, with the secrets the runtime has.
func (in *procInst) start(ctx context.Context) error {
	p := in.p
	p.mu.Lock()
	spec, secrets, port := in.st.Spec, maps.Clone(in.secrets), in.st.Port
	var missing []string
	for _, k := range in.st.SecretNames {
		if _, ok := secrets[k]; !ok {
			missing = append(missing, k)
		}
	}
	p.mu.Unlock()
	if len(missing) > 0 {
		p.log.Warn("restarting without secrets the runtime was not given (SetSecrets)", "instance", in.id, "missing", missing)
	}
	run, err := p.spawn(spec, secrets, port)
	if err != nil {
		return err
	}
	p.mu.Lock()
	in.run = run
	in.st.PID, in.st.StartTime = run.pid, run.start
	p.mu.Unlock()
	p.log.Debug("instance spawned", "instance", in.id, "pid", run.pid)
	return nil
}

func (in *procInst) save() {
	in.p.mu.Lock()
	defer in.p.mu.Unlock()
	in.p.saveLocked(in)
}

// gone: a process instance cannot vanish behind tug's back (its state
// file stays until Stop), so wait and start never report errGone.
func (in *procInst) gone() {}

// stateFile is the instance's state file as of now; Process.mu is held.
func (in *procInst) stateFile() processState {
	st := in.st
	st.record, st.StartedAt = in.record(), in.startedAt
	return st
}

// waitRun returns how run ended, or ctx's error when ctx ends first.
func (p *Process) waitRun(ctx context.Context, run *procRun) (string, error) {
	if run == nil {
		return "exited while no server supervised it", nil
	}
	if run.child {
		select {
		case <-run.exited:
			if run.err == nil {
				return "exit status 0", nil
			}
			return run.err.Error(), nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	t := time.NewTicker(p.poll)
	defer t.Stop()
	for {
		if !processAlive(run.pid, run.start) {
			return "exited (adopted process, status unknown)", nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// saveLocked persists in's state; a failure is logged, as supervision
// must go on (the next save retries).
func (p *Process) saveLocked(in *procInst) {
	if err := saveState(p.instDir(in.st.Spec.ID), in.stateFile()); err != nil {
		p.log.Error("save instance state", "instance", in.st.Spec.ID, "err", err)
	}
}

// Stop stops the instance's whole process group: SIGTERM, up to grace,
// then SIGKILL; then removes its directory (state and logs).
func (p *Process) Stop(ctx context.Context, id string, grace time.Duration) error {
	p.mu.Lock()
	in, err := p.lookupLocked(id)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if first, err := p.halt(ctx, id, &in.supervision); !first {
		return err
	}
	p.mu.Lock()
	run := in.run
	p.mu.Unlock()
	if run != nil {
		p.killRun(ctx, run, grace)
	}
	in.logMu.Lock()
	err = os.RemoveAll(p.instDir(id))
	in.logMu.Unlock()
	p.stopped(&in.supervision, func() { delete(p.insts, id) })
	if err != nil {
		return fmt.Errorf("stop instance %s: remove its state: %w", id, err)
	}
	p.log.Info("instance stopped", "instance", id)
	return nil
}

// killRun signals run's process group: SIGTERM, then SIGKILL once grace
// (or ctx) ran out while any member lives. It returns once the group is
// gone (bounded) and a child leader is reaped.
func (p *Process) killRun(ctx context.Context, run *procRun, grace time.Duration) {
	pgid := run.pid
	if pgid <= 0 {
		return
	}
	// An adopted leader that is no longer ours (PID reused) must not be
	// signalled; its group only while members remain.
	if !run.child && !processAlive(run.pid, run.start) && !groupAlive(pgid) {
		return
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	gone := func(limit time.Duration, ctx context.Context) bool {
		deadline := time.Now().Add(limit)
		for {
			if !groupAlive(pgid) {
				return true
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !gone(grace, ctx) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		gone(5*time.Second, context.Background())
	}
	if run.child {
		select {
		case <-run.exited:
		case <-time.After(5 * time.Second):
		}
	}
}

// lookupLocked finds id among known instances or adopts it from its
// state file.
func (p *Process) lookupLocked(id string) (*procInst, error) {
	if in, ok := p.insts[id]; ok {
		return in, nil
	}
	if validID(id) != nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	in, err := p.adoptLocked(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return in, err
}

// adoptLocked takes over an instance an earlier runtime started, from its
// state file, and supervises it (unless closed).
func (p *Process) adoptLocked(id string) (*procInst, error) {
	st, err := loadState(p.instDir(id))
	if err != nil {
		return nil, err
	}
	in := p.newInst(id, st)
	in.restore(st.record)
	in.startedAt = st.StartedAt
	if processAlive(st.PID, st.StartTime) {
		in.run = &procRun{pid: st.PID, start: st.StartTime}
		in.state = Running
	} else {
		in.state = Restarting
	}
	p.insts[id] = in
	p.watch(&in.supervision, in, p.log.With("instance", id))
	p.log.Info("instance adopted", "instance", id, "pid", st.PID, "alive", in.run != nil)
	return in, nil
}

// List returns every instance in StateDir, adopting those started by an
// earlier runtime. An unreadable state file is logged and skipped.
func (p *Process) List(ctx context.Context) ([]Instance, error) {
	ents, err := os.ReadDir(p.dir)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range ents {
		id := e.Name()
		if !e.IsDir() || validID(id) != nil {
			continue
		}
		if _, ok := p.insts[id]; ok {
			continue
		}
		if _, err := p.adoptLocked(id); err != nil && !errors.Is(err, fs.ErrNotExist) {
			p.log.Warn("skip instance with unreadable state", "instance", id, "err", err)
		}
	}
	out := make([]Instance, 0, len(p.insts))
	for _, in := range p.insts {
		if !in.stopping {
			out = append(out, p.snapshot(in))
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// snapshot describes in; p.mu is held.
func (p *Process) snapshot(in *procInst) Instance {
	st := in.st
	inst := Instance{
		ID:          st.Spec.ID,
		Service:     st.Spec.Service,
		Environment: st.Spec.Environment,
		Release:     st.Spec.Release,
		Addr:        net.JoinHostPort("127.0.0.1", strconv.Itoa(st.Port)),
		PID:         st.PID,
	}
	p.describe(&in.supervision, &inst)
	return inst
}

// SetSecrets gives the runtime the secret values of an instance it
// adopted (state files hold only their names), for its next restarts.
// It does not restart the instance.
func (p *Process) SetSecrets(id string, secrets map[string]secret.Value) error {
	for k := range secrets {
		if err := validEnvName("instance "+id+": secrets", k); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	in, err := p.lookupLocked(id)
	if err != nil {
		return err
	}
	in.secrets = maps.Clone(secrets)
	in.st.SecretNames = slices.Sorted(maps.Keys(secrets))
	p.saveLocked(in)
	return nil
}

// Logs returns up to n last lines of the instance's output, across
// rotated generations.
func (p *Process) Logs(ctx context.Context, id string, n int) ([]string, error) {
	if validID(id) != nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	p.mu.Lock()
	in := p.insts[id]
	p.mu.Unlock()
	dir := p.instDir(id)
	if in == nil {
		if _, err := os.Stat(filepath.Join(dir, stateName)); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
	} else {
		in.logMu.Lock()
		defer in.logMu.Unlock()
	}
	lines, err := tailLog(filepath.Join(dir, logName), n, p.keep)
	if err != nil {
		return nil, fmt.Errorf("logs of instance %s: %w", id, err)
	}
	return lines, nil
}

// rotator rotates the log files of supervised instances every poll.
func (p *Process) rotator() {
	defer p.wg.Done()
	t := time.NewTicker(p.poll)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		insts := slices.Collect(maps.Values(p.insts))
		p.mu.Unlock()
		for _, in := range insts {
			p.rotate(in)
		}
	}
}

func (p *Process) rotate(in *procInst) {
	in.logMu.Lock()
	defer in.logMu.Unlock()
	id := in.id
	if _, err := rotateLog(filepath.Join(p.instDir(id), logName), p.maxB, p.keep); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Warn("rotate instance log", "instance", id, "err", err)
	}
}

// Close stops supervision and log rotation; instances keep running, and
// a later runtime on the same StateDir adopts them.
func (p *Process) Close() error {
	p.shutdown()
	return nil
}
