package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/proxy"
)

// proxySupervisor keeps one `tug proxy` running for the state directory:
// it adopts a proxy that already answers, else starts one detached (its
// own session, output to proxy/proxy.log) and restarts it if it dies.
// The proxy outlives the server unless stop is called.
type proxySupervisor struct {
	argv     []string // the command and its arguments
	dir      string   // <state>/proxy
	client   *proxy.Client
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	pid    int
	exited chan struct{} // closed when a proxy this server started exits
	// pushed is the newest table the proxy accepted from this server.
	pushed *proxy.Table
}

var _ deploy.Router = (*proxySupervisor)(nil)

// Apply pushes t to the proxy (deploy.Router) and remembers it, so a
// proxy that comes back without it (restarted on a damaged table file)
// gets it again.
func (p *proxySupervisor) Apply(ctx context.Context, t *proxy.Table) error {
	if err := p.client.Apply(ctx, t); err != nil {
		return err
	}
	p.mu.Lock()
	if p.pushed == nil || t.Version >= p.pushed.Version {
		p.pushed = t
	}
	p.mu.Unlock()
	return nil
}

// Table reads the proxy's table (deploy.Router).
func (p *proxySupervisor) Table(ctx context.Context) (*proxy.Table, error) {
	return p.client.Table(ctx)
}

// Stats and Backends are the proxy's (deploy.Router).
func (p *proxySupervisor) Stats(ctx context.Context) ([]proxy.Stats, error) {
	return p.client.Stats(ctx)
}
func (p *proxySupervisor) Backends(ctx context.Context) ([]proxy.BackendStatus, error) {
	return p.client.Backends(ctx)
}

// repush pushes the remembered table again when the proxy answering h
// holds an older one (or none).
func (p *proxySupervisor) repush(ctx context.Context, h proxy.Health) {
	p.mu.Lock()
	t := p.pushed
	p.mu.Unlock()
	if t == nil || h.Version >= t.Version {
		return
	}
	p.log.Warn("the proxy's routing table is older than the one pushed; pushing it again",
		"proxy_version", h.Version, "proxy_routes", h.Routes, "version", t.Version, "routes", len(t.Routes), "pid", h.PID)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.client.Apply(ctx, t); err != nil && !errors.Is(err, proxy.ErrStale) && ctx.Err() == nil {
		p.log.Error("pushing the routing table again failed", "err", err)
	}
}

func newProxySupervisor(stateDir string, argv []string, log *slog.Logger) *proxySupervisor {
	return &proxySupervisor{
		argv:     argv,
		dir:      filepath.Join(stateDir, proxy.DataDirName),
		client:   proxy.NewClient(proxy.ControlSocketPath(stateDir)),
		log:      log,
		interval: 2 * time.Second,
	}
}

// pidPath is the PID file the proxy writes for itself.
func (p *proxySupervisor) pidPath() string { return filepath.Join(p.dir, proxy.PIDFileName) }
func (p *proxySupervisor) logPath() string { return filepath.Join(p.dir, "proxy.log") }

// healthy asks the control socket, bounded by a short timeout.
func (p *proxySupervisor) healthy(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.client.Healthz(ctx) == nil
}

// ensure adopts a running proxy that serves the wanted addresses, or
// starts one (which takes over a running one's sockets and moves to the
// new addresses, so nothing queued is lost) and waits until it answers.
func (p *proxySupervisor) ensure(ctx context.Context) error {
	if p.healthy(ctx) {
		h, err := p.health(ctx)
		if err == nil && p.serves(h) {
			pid := p.readPID()
			p.mu.Lock()
			p.pid = pid
			p.mu.Unlock()
			p.log.Info("adopted the running proxy", "pid", pid)
			return nil
		}
		if len(p.argv) > 0 {
			p.log.Warn("the running proxy serves other addresses; replacing it (it hands its connections over)",
				"running_http", h.HTTP, "running_https", h.HTTPS, "want_http", flagValue(p.argv, "--http"), "want_https", flagValue(p.argv, "--https"))
		}
	}
	if len(p.argv) == 0 {
		return errors.New("proxy: not running and no command to start it")
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	out, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("proxy log: %w", err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	detach(cmd)
	err = cmd.Start()
	out.Close()
	if err != nil {
		return fmt.Errorf("proxy: start %s: %w", strings.Join(p.argv, " "), err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }() // reap it while we live
	p.mu.Lock()
	p.pid, p.exited = cmd.Process.Pid, exited
	p.mu.Unlock()
	p.log.Info("started the proxy", "pid", cmd.Process.Pid, "cmd", strings.Join(p.argv, " "), "log", p.logPath())
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if h, err := p.health(ctx); err == nil && h.PID == cmd.Process.Pid {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return fmt.Errorf("proxy exited at start (%s); last lines of %s:\n%s", cmd.ProcessState, p.logPath(), tail(p.logPath(), 10))
		case <-deadline.C:
			return fmt.Errorf("proxy did not answer on its control socket within 15s; see %s:\n%s", p.logPath(), tail(p.logPath(), 10))
		case <-tick.C:
		}
	}
}

// health asks the control socket who answers, bounded like healthy.
func (p *proxySupervisor) health(ctx context.Context) (proxy.Health, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.client.Health(ctx)
}

// serves reports whether a proxy answering h listens where this server
// would start one; without a command any proxy does.
func (p *proxySupervisor) serves(h proxy.Health) bool {
	if len(p.argv) == 0 {
		return true
	}
	return h.HTTP == flagValue(p.argv, "--http") && h.HTTPS == flagValue(p.argv, "--https") && h.Flags == flagValue(p.argv, "--flags")
}

// flagValue is the value following name in argv, "" if absent.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// supervise checks the proxy every interval until ctx ends, and starts
// it again when it stopped answering twice in a row (or exited).
func (p *proxySupervisor) supervise(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	misses := 0
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-exitedOrNil(exited):
			misses = 1 // known dead: one more failed check is enough
		}
		if h, err := p.health(ctx); err == nil {
			misses = 0
			p.repush(ctx, h)
			continue
		}
		misses++
		if misses < 2 || ctx.Err() != nil {
			continue
		}
		p.log.Warn("proxy is not answering; restarting it", "log", p.logPath())
		if err := p.ensure(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("proxy restart failed", "err", err)
			continue
		}
		misses = 0
		if h, err := p.health(ctx); err == nil {
			p.repush(ctx, h)
		}
	}
}

// exitedOrNil returns ch once (it is closed forever after); nil channels
// block, so a proxy we did not start is only checked by ticks.
func exitedOrNil(ch chan struct{}) chan struct{} {
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil // already handled; rely on ticks now
	default:
		return ch
	}
}

// stop terminates the proxy (SIGTERM, then SIGKILL after grace).
func (p *proxySupervisor) stop(grace time.Duration) error {
	p.mu.Lock()
	pid, exited := p.pid, p.exited
	p.mu.Unlock()
	if pid == 0 {
		pid = p.readPID()
	}
	if pid == 0 || !kit.Alive(pid) {
		return nil
	}
	if err := sendSignal(pid, false); err != nil {
		return fmt.Errorf("stop proxy (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if exited != nil {
			select {
			case <-exited:
				return nil
			case <-time.After(50 * time.Millisecond):
			}
		} else {
			if !kit.Alive(pid) {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	p.log.Warn("proxy did not stop in time; killing it", "pid", pid)
	_ = sendSignal(pid, true)
	return nil
}

func (p *proxySupervisor) readPID() int {
	b, err := os.ReadFile(p.pidPath())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !kit.Alive(pid) {
		return 0
	}
	return pid
}

// tail returns up to n last lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no output)"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
