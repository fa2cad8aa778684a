package deploy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
)

// fakeRuntime runs each instance as an in-process httptest server whose
// behaviour is the first word of Spec.Command: "ok" serves 200; "sick"
// fails its health check (and logs a panic); "halfsick" does so only for
// a release's second instance; "flaky" answers 500 to 30% of requests;
// "nostart" cannot start.
type fakeRuntime struct {
	mu     sync.Mutex
	insts  map[string]*fakeInst
	starts []runtime.Spec
}

type fakeInst struct {
	spec runtime.Spec
	srv  *httptest.Server
	inst runtime.Instance
	n    atomic.Int64
}

var _ runtime.Runtime = (*fakeRuntime)(nil)

func newFakeRuntime(t *testing.T) *fakeRuntime {
	f := &fakeRuntime{insts: map[string]*fakeInst{}}
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, in := range f.insts {
			in.srv.Close()
		}
	})
	return f
}

func (f *fakeRuntime) Start(ctx context.Context, spec runtime.Spec) (runtime.Instance, error) {
	mode, _, _ := strings.Cut(spec.Command+spec.Image, " ")
	if mode == "nostart" {
		return runtime.Instance{}, fmt.Errorf("%w: no such command", runtime.ErrStart)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.insts[spec.ID]; dup {
		return runtime.Instance{}, fmt.Errorf("%w: duplicate ID %s", runtime.ErrStart, spec.ID)
	}
	fi := &fakeInst{spec: spec}
	fi.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if mode == "sick" || (mode == "halfsick" && strings.HasSuffix(spec.ID, "-2")) {
				http.Error(w, "not ready", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
			return
		}
		n := fi.n.Add(1)
		if mode == "flaky" && n%10 < 3 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello from %s\n", spec.Release)
	}))
	fi.inst = runtime.Instance{ID: spec.ID, Service: spec.Service, Environment: spec.Environment, Release: spec.Release,
		Addr: fi.srv.Listener.Addr().String(), State: runtime.Running, StartedAt: time.Now()}
	f.insts[spec.ID] = fi
	f.starts = append(f.starts, spec)
	return fi.inst, nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	fi := f.insts[id]
	delete(f.insts, id)
	f.mu.Unlock()
	if fi == nil {
		return fmt.Errorf("%w: %s", runtime.ErrNotFound, id)
	}
	fi.srv.Close()
	return nil
}

func (f *fakeRuntime) List(ctx context.Context) ([]runtime.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []runtime.Instance
	for _, in := range f.insts {
		out = append(out, in.inst)
	}
	return out, nil
}

func (f *fakeRuntime) Logs(ctx context.Context, id string, n int) ([]string, error) {
	f.mu.Lock()
	fi := f.insts[id]
	f.mu.Unlock()
	if fi == nil {
		return nil, fmt.Errorf("%w: %s", runtime.ErrNotFound, id)
	}
	lines := []string{"starting " + id, "listening on " + fi.inst.Addr}
	if strings.HasPrefix(fi.spec.Command, "sick") {
		lines = append(lines, "panic: database unreachable")
	}
	return lines, nil
}

func (f *fakeRuntime) Close() error { return nil }

// ids lists running instance IDs, sorted.
func (f *fakeRuntime) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.insts {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (f *fakeRuntime) startCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.starts)
}

// fakeRouter keeps the applied tables, checks at every push that each
// route has at least one healthy backend with weight, and serves traffic
// to the table when Stats is read (20 requests per service/env, spread by
// pool weight, round robin inside a pool).
type fakeRouter struct {
	mu         sync.Mutex
	table      *proxy.Table
	applied    []*proxy.Table
	violations []string
	stats      map[string]*proxy.Stats
	rr         map[string]int
	credit     map[string]int
	hook       func(t *proxy.Table) error // runs before a table is taken
	after      func(t *proxy.Table)       // runs after a table is taken
}

var _ Router = (*fakeRouter)(nil)

func latencyBounds() []float64 { return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1} }

func newFakeRouter() *fakeRouter {
	return &fakeRouter{table: &proxy.Table{}, stats: map[string]*proxy.Stats{}, rr: map[string]int{}, credit: map[string]int{}}
}

func healthy(addr string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func (r *fakeRouter) Apply(ctx context.Context, t *proxy.Table) error {
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(t); err != nil {
			return err
		}
	}
	r.mu.Lock()
	if t.Version <= r.table.Version {
		r.mu.Unlock()
		return fmt.Errorf("stale table version %d <= %d", t.Version, r.table.Version)
	}
	r.mu.Unlock()
	for _, rt := range t.Routes {
		ok := 0
		for _, p := range rt.Pools {
			if p.Weight <= 0 {
				continue
			}
			for _, b := range p.Backends {
				if healthy(b.Addr) {
					ok++
				}
			}
		}
		if ok == 0 {
			r.mu.Lock()
			r.violations = append(r.violations, fmt.Sprintf("table v%d route %s has no healthy weighted backend", t.Version, rt.Host))
			r.mu.Unlock()
		}
	}
	r.mu.Lock()
	r.table = t
	r.applied = append(r.applied, t)
	after := r.after
	r.mu.Unlock()
	if after != nil {
		after(t)
	}
	return nil
}

func (r *fakeRouter) Table(ctx context.Context) (*proxy.Table, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table, nil
}

func (r *fakeRouter) Backends(ctx context.Context) ([]proxy.BackendStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []proxy.BackendStatus
	for _, rt := range r.table.Routes {
		for _, p := range rt.Pools {
			for _, b := range p.Backends {
				out = append(out, proxy.BackendStatus{Instance: b.Instance, Addr: b.Addr, Healthy: true})
			}
		}
	}
	return out, nil
}

// Stats serves a burst of traffic through the current table, then
// returns the cumulative counters.
func (r *fakeRouter) Stats(ctx context.Context) ([]proxy.Stats, error) {
	r.mu.Lock()
	t := r.table
	r.mu.Unlock()
	seen := map[string]bool{}
	for _, rt := range t.Routes {
		k := rt.Service + "/" + rt.Environment
		if seen[k] {
			continue
		}
		seen[k] = true
		for range 20 {
			r.serve(rt)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []proxy.Stats
	for _, s := range r.stats {
		c := *s
		c.Buckets = slices.Clone(s.Buckets)
		out = append(out, c)
	}
	return out, nil
}

// serve sends one request by smooth weighted round robin over pools.
func (r *fakeRouter) serve(rt *proxy.Route) {
	r.mu.Lock()
	var pick *proxy.Pool
	total := 0
	for _, p := range rt.Pools {
		if p.Weight <= 0 || len(p.Backends) == 0 {
			continue
		}
		ck := rt.Service + "/" + rt.Environment + "/" + p.Release
		r.credit[ck] += p.Weight
		total += p.Weight
		if pick == nil || r.credit[ck] > r.credit[rt.Service+"/"+rt.Environment+"/"+pick.Release] {
			pick = p
		}
	}
	if pick == nil {
		r.mu.Unlock()
		return
	}
	ck := rt.Service + "/" + rt.Environment + "/" + pick.Release
	r.credit[ck] -= total
	b := pick.Backends[r.rr[ck]%len(pick.Backends)]
	r.rr[ck]++
	r.mu.Unlock()

	start := time.Now()
	bad := false
	resp, err := http.Get("http://" + b.Addr + "/")
	if err != nil {
		bad = true
	} else {
		resp.Body.Close()
		bad = resp.StatusCode >= 500
	}
	secs := time.Since(start).Seconds()

	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats[ck]
	if s == nil {
		s = &proxy.Stats{Service: rt.Service, Environment: rt.Environment, Release: pick.Release}
		for _, ub := range latencyBounds() {
			s.Buckets = append(s.Buckets, proxy.Bucket{UpperBound: ub})
		}
		r.stats[ck] = s
	}
	s.Requests++
	if bad {
		s.Errors++
	}
	for i := range s.Buckets {
		if secs <= s.Buckets[i].UpperBound {
			s.Buckets[i].Count++
		}
	}
}

func (r *fakeRouter) tables() []*proxy.Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.applied)
}

func (r *fakeRouter) current() *proxy.Table {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.table
}

func (r *fakeRouter) checkViolations(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.violations {
		t.Error(v)
	}
}

// errCrashed is what a "crashed" server's router and runtime answer.
var errCrashed = errors.New("server crashed")

// crashRuntime wraps a runtime so a simulated crash cuts the old server
// off from the world: every call fails once dead is set.
type crashRuntime struct {
	runtime.Runtime
	dead *atomic.Bool
}

func (c crashRuntime) Start(ctx context.Context, s runtime.Spec) (runtime.Instance, error) {
	if c.dead.Load() {
		return runtime.Instance{}, errCrashed
	}
	return c.Runtime.Start(ctx, s)
}

func (c crashRuntime) Stop(ctx context.Context, id string, g time.Duration) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Runtime.Stop(ctx, id, g)
}

type crashRouter struct {
	Router
	dead *atomic.Bool
}

func (c crashRouter) Apply(ctx context.Context, t *proxy.Table) error {
	if c.dead.Load() {
		return errCrashed
	}
	return c.Router.Apply(ctx, t)
}

func (c crashRouter) Backends(ctx context.Context) ([]proxy.BackendStatus, error) {
	if c.dead.Load() {
		return nil, errCrashed
	}
	return c.Router.Backends(ctx)
}
