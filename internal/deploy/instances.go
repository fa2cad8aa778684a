package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
)

// logLines is how many last log lines a failure report carries.
const logLines = 20

func (m *Manager) runtimeFor(name string) (runtime.Runtime, error) {
	rt := m.opts.Runtimes[name]
	if rt == nil {
		return nil, fmt.Errorf("%w: no %s runtime is configured", ErrFailed, name)
	}
	return rt, nil
}

// secretsFor resolves the secrets a plan asks for in its environment: the
// versions it recorded, or, the first time, the current ones, which it
// then records (the plan is stored with its release).
func (m *Manager) secretsFor(ctx context.Context, p *plan) (map[string]secret.Value, error) {
	got, err := m.resolveSecrets(ctx, p)
	if err != nil && !errors.Is(err, ErrFailed) {
		err = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	if err != nil {
		return nil, err
	}
	if got != nil && p.SecretRefs == nil {
		p.SecretRefs = secret.Refs(got)
	}
	return m.withFlagKey(p, secret.Values(got)), nil
}

// resolveSecrets asks the secret sources for p's secrets.
func (m *Manager) resolveSecrets(ctx context.Context, p *plan) (map[string]secret.Resolved, error) {
	if len(p.Secrets) == 0 {
		return nil, nil
	}
	if m.opts.Secrets == nil {
		return nil, fmt.Errorf("%w: services.%s.secrets: %v requested but no secret source is configured", ErrFailed, p.Service, p.Secrets)
	}
	got, err := m.opts.Secrets.Resolve(ctx, p.Environment, p.Secrets, p.SecretRefs)
	if err != nil {
		return nil, fmt.Errorf("services.%s.secrets: %w", p.Service, err)
	}
	return got, nil
}

// startInstance allocates the next instance ID of rel, records it in the
// op (persisted) before starting it, starts it, and records its address.
// The instance is not in the table yet.
func (m *Manager) startInstance(ctx context.Context, k key, p *plan, rel string, secrets map[string]secret.Value) (instRef, error) {
	rt, err := m.runtimeFor(p.Runtime)
	if err != nil {
		return instRef{}, err
	}
	var ref instRef
	err = m.save(ctx, k, func(st *envState) {
		if st.Counters == nil {
			st.Counters = map[string]int{}
		}
		st.Counters[rel]++
		ref = instRef{ID: fmt.Sprintf("%s-%s-%s-%d", p.Service, p.Environment, rel, st.Counters[rel]), Runtime: p.Runtime}
		switch {
		case st.Op == nil:
		case st.Op.Release == rel:
			st.Op.New = append(st.Op.New, ref)
		default: // refilling the old release during a rollback
			st.Op.Old = append(st.Op.Old, ref)
		}
	})
	if err != nil {
		return ref, err
	}
	env := maps.Clone(p.Env)
	if env == nil {
		env = map[string]string{}
	}
	env["TUG_SERVICE"], env["TUG_ENVIRONMENT"], env["TUG_RELEASE"], env["TUG_INSTANCE"] = p.Service, p.Environment, rel, ref.ID
	image := p.Image
	if p.Digest != "" {
		image = p.Digest
	}
	// What the instance runs: the git commit of a process release, the
	// pinned image of a container one.
	env["TUG_REVISION"] = p.Revision
	if p.Runtime == "docker" {
		env["TUG_REVISION"] = image
	}
	inst, err := rt.Start(ctx, runtime.Spec{
		ID: ref.ID, Service: p.Service, Environment: p.Environment, Release: rel,
		Dir: p.Dir, Command: p.Command, Image: image, Port: p.Port, Env: env, Secrets: secrets,
	})
	if err != nil {
		return ref, fmt.Errorf("start instance %s: %w", ref.ID, err)
	}
	ref.Addr = inst.Addr
	err = m.save(ctx, k, func(st *envState) {
		if st.Op != nil {
			for _, list := range [][]instRef{st.Op.New, st.Op.Old} {
				for i := range list {
					if list[i].ID == ref.ID {
						list[i].Addr = ref.Addr
					}
				}
			}
		}
	})
	return ref, err
}

// gateError is an instance that never became healthy: it did not pass
// its check before the deadline, or it exited while starting.
type gateError struct {
	Instance string
	Check    string
	Logs     []string
	Waited   time.Duration
	// Exit is how the instance ended when it exited during start
	// ("exit status 3"); CrashLoop says the runtime already saw it crash
	// again and again.
	Exit      string
	CrashLoop bool
	Restarts  int
}

func (e *gateError) Error() string {
	var b strings.Builder
	switch {
	case e.CrashLoop:
		fmt.Fprintf(&b, "instance %s is crash-looping (%s; %d restarts in %s)", e.Instance, e.Exit, e.Restarts, e.Waited.Round(time.Millisecond))
	case e.Exit != "":
		fmt.Fprintf(&b, "instance %s exited during start after %s (%s)", e.Instance, e.Waited.Round(time.Millisecond), e.Exit)
	default:
		fmt.Fprintf(&b, "instance %s not healthy after %s: %s", e.Instance, e.Waited.Round(time.Millisecond), e.Check)
	}
	if len(e.Logs) > 0 {
		b.WriteString("\nlast log lines:")
		for _, l := range e.Logs {
			b.WriteString("\n  " + l)
		}
	} else {
		b.WriteString("\n(no log lines)")
	}
	return b.String()
}

// gate waits until ref passes its health check or deadline passes; the
// error is a *gateError carrying the last check and log lines. It fails
// as soon as the runtime reports that the instance exited (it would only
// be restarted into the same failure), and, with note, says every
// Options.ProgressEvery which check it waits for and for how long.
func (m *Manager) gate(ctx context.Context, p *plan, ref instRef, deadline time.Time, note func(format string, args ...any)) error {
	start := time.Now()
	nextNote := start.Add(m.opts.ProgressEvery)
	// Poll fast at first (a fresh process is up in milliseconds), backing
	// off to the configured interval, so a gate costs what the app needs.
	interval := min(p.HealthInterval, 25*time.Millisecond)
	for {
		check, ok := probe(ctx, p, ref.Addr)
		if ok {
			return nil
		}
		if in, found := m.instance(ctx, ref); found && (in.State != runtime.Running || in.Restarts > 0 || in.CrashLoop) {
			exit := in.LastExit
			if exit == "" {
				exit = string(in.State)
			}
			return &gateError{Instance: ref.ID, Check: check, Logs: m.lastLogs(ref), Waited: time.Since(start),
				Exit: exit, CrashLoop: in.CrashLoop, Restarts: in.Restarts}
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			if ctx.Err() != nil {
				check += " (" + ctx.Err().Error() + ")"
			}
			return &gateError{Instance: ref.ID, Check: check, Logs: m.lastLogs(ref), Waited: time.Since(start)}
		}
		if now := time.Now(); note != nil && now.After(nextNote) {
			note("waiting for %s: %s (%s so far, gives up in %s)", ref.ID, check,
				now.Sub(start).Round(time.Second), left.Round(time.Second))
			nextNote = now.Add(m.opts.ProgressEvery)
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		interval = min(interval*2, p.HealthInterval)
	}
}

// instance is what ref's runtime reports about it now; false when the
// runtime cannot say (then the health check alone decides).
func (m *Manager) instance(ctx context.Context, ref instRef) (runtime.Instance, bool) {
	rt := m.opts.Runtimes[ref.Runtime]
	if rt == nil {
		return runtime.Instance{}, false
	}
	list, err := rt.List(ctx)
	if err != nil {
		return runtime.Instance{}, false
	}
	for _, in := range list {
		if in.ID == ref.ID {
			return in, true
		}
	}
	return runtime.Instance{}, false
}

// lastLogs fetches an instance's last log lines, best effort.
func (m *Manager) lastLogs(ref instRef) []string {
	rt := m.opts.Runtimes[ref.Runtime]
	if rt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(m.bg, 5*time.Second)
	defer cancel()
	lines, err := rt.Logs(context.WithoutCancel(ctx), ref.ID, logLines)
	if err != nil {
		return []string{"(logs unavailable: " + err.Error() + ")"}
	}
	return lines
}

// drainStop waits until the proxy has no request in flight to refs (which
// must already be out of the table) or the drain timeout passes, then
// stops them.
func (m *Manager) drainStop(ctx context.Context, drain time.Duration, refs []instRef) {
	if len(refs) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	want := map[string]bool{}
	for _, r := range refs {
		want[r.ID] = true
	}
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		bs, err := m.opts.Router.Backends(ctx)
		if err != nil {
			m.log.Warn("drain: cannot read the proxy's backends; stopping now", "err", err)
			break
		}
		busy := false
		for _, b := range bs {
			if want[b.Instance] && (b.InFlight > 0 || !b.Draining) {
				busy = true
				break
			}
		}
		if !busy {
			break
		}
		time.Sleep(min(m.opts.PollInterval, time.Until(deadline)))
	}
	m.stopRefs(ctx, refs)
}

// stopRefs stops refs, ignoring ones already gone.
func (m *Manager) stopRefs(ctx context.Context, refs []instRef) {
	for _, r := range refs {
		rt := m.opts.Runtimes[r.Runtime]
		if rt == nil {
			continue
		}
		if err := rt.Stop(ctx, r.ID, stopGrace); err != nil && !errors.Is(err, runtime.ErrNotFound) {
			m.log.Warn("stop instance", "instance", r.ID, "err", err)
		}
	}
}

// without returns refs minus those whose ID is in drop.
func without(refs []instRef, drop []instRef) []instRef {
	return slices.DeleteFunc(slices.Clone(refs), func(r instRef) bool {
		return slices.ContainsFunc(drop, func(d instRef) bool { return d.ID == r.ID })
	})
}

// awaitRouted waits until the proxy lists every ref as a healthy backend,
// so traffic can rely on them before anything else leaves the table (the
// proxy probes a new backend before it sends it requests).
func (m *Manager) awaitRouted(ctx context.Context, refs []instRef, deadline time.Time) error {
	if len(refs) == 0 {
		return nil
	}
	deadline = maxTime(deadline, time.Now().Add(5*time.Second))
	for {
		bs, err := m.opts.Router.Backends(ctx)
		if err != nil {
			return fmt.Errorf("read the proxy's backends: %w", err)
		}
		seen, healthy := map[string]bool{}, map[string]bool{}
		for _, b := range bs {
			if _, ok := healthy[b.Instance]; !ok {
				healthy[b.Instance] = true
			}
			seen[b.Instance] = true
			healthy[b.Instance] = healthy[b.Instance] && b.Healthy && !b.Draining
		}
		var waiting []string
		for _, r := range refs {
			if !seen[r.ID] || !healthy[r.ID] {
				waiting = append(waiting, r.ID)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the proxy does not see %s healthy (its own health check fails)", strings.Join(waiting, ", "))
		}
		if err := sleepCtx(ctx, m.opts.PollInterval); err != nil {
			return err
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
