package deploy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// fakeDocker is the fake runtime with image resolution.
type fakeDocker struct{ *fakeRuntime }

var _ ImageResolver = fakeDocker{}

// pullingDocker also pulls, recording each pull.
type pullingDocker struct {
	fakeDocker
	pulls *[]string
}

var _ ImagePuller = pullingDocker{}

func (d pullingDocker) PullImage(_ context.Context, ref string) error {
	if strings.HasPrefix(ref, "unpullable") {
		return errors.New("manifest unknown")
	}
	*d.pulls = append(*d.pulls, ref)
	return nil
}

// pull: true pulls the image before every deploy; without it the
// runtime is not asked to.
func TestDockerServicePullsWhenAsked(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "")
	svc.Image = "ok:main"
	h := newHarness(t, configWith(svc))
	var pulls []string
	h.m.opts.Runtimes["docker"] = pullingDocker{fakeDocker{h.rt}, &pulls}
	h.mustDeploy("")
	if len(pulls) != 0 {
		t.Fatalf("pulled %v without pull: true", pulls)
	}
	svc.Pull = true
	h.m.SetConfig(h.cfg)
	h.mustDeploy("")
	h.mustDeploy("")
	if len(pulls) != 2 || pulls[0] != "ok:main" {
		t.Fatalf("pulls %v, want ok:main before each of the two deploys", pulls)
	}
	svc.Image = "unpullable:main"
	h.m.SetConfig(h.cfg)
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "pull: manifest unknown") {
		t.Errorf("failed pull: %v", err)
	}
}

func (fakeDocker) ResolveImage(ctx context.Context, ref string) (string, error) {
	if strings.HasPrefix(ref, "missing") {
		return "", fmt.Errorf("no such image %s", ref)
	}
	return "sha256:" + strings.Repeat("ab", 8) + "-" + ref, nil
}

func TestDockerReleasePinsTheImageDigest(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "")
	svc.Image = "ok:latest"
	h := newHarness(t, configWith(svc))
	h.m.opts.Runtimes["docker"] = fakeDocker{h.rt}
	rel := h.mustDeploy("")
	if rel.Digest != "sha256:abababababababab-ok:latest" || rel.Revision != "" {
		t.Errorf("release = %+v", rel)
	}
	h.rt.mu.Lock()
	img := h.rt.starts[0].Image
	h.rt.mu.Unlock()
	if img != rel.Digest {
		t.Errorf("started image %q, want the digest", img)
	}
	svc.Image = "missing:1"
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "no such image") {
		t.Errorf("missing image: %v", err)
	}
}

func TestCanaryQueries(t *testing.T) {
	t.Parallel()
	maxv := 0.1
	svc := webService("canary", "ok")
	svc.Deploy.Steps = []stepCfg{{Weight: 25}}
	h := newHarness(t, configWith(svc))
	h.mustDeploy("")
	svc.Deploy.Analysis = &analysisCfg{Queries: []config.AnalysisQuery{{Query: `errors{release="$RELEASE"}`, Max: &maxv}}}
	// Without a query hook: a clear error, nothing recorded.
	before, _ := h.m.Releases(context.Background(), "web", "")
	_, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "analysis.queries") {
		t.Fatalf("no query hook: %v", err)
	}
	if after, _ := h.m.Releases(context.Background(), "web", ""); len(after) != len(before) {
		t.Errorf("a release was recorded")
	}
	var mu sync.Mutex
	var asked []string
	value := 0.5
	h.m.opts.Query = func(ctx context.Context, expr string) (float64, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, expr)
		return value, nil
	}
	rel, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "= 0.5 exceeds max 0.1") {
		t.Fatalf("failing query: %v", err)
	}
	if len(asked) != 1 || asked[0] != `errors{release="`+rel.ID+`"}` {
		t.Errorf("queries asked: %q", asked)
	}
	value = 0.01
	h.mustDeploy("")
}

func TestQuantileFromBuckets(t *testing.T) {
	t.Parallel()
	b := func(pairs ...float64) []proxy.Bucket {
		var out []proxy.Bucket
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, proxy.Bucket{UpperBound: pairs[i], Count: uint64(pairs[i+1])})
		}
		return out
	}
	tests := []struct {
		name    string
		buckets []proxy.Bucket
		want    float64
	}{
		{"empty", nil, math.NaN()},
		{"no observations", b(0.1, 0, 1, 0), math.NaN()},
		{"all in first bucket", b(0.1, 100, 1, 100), 0.095},
		{"interpolated", b(0.1, 50, 0.5, 100), 0.1 + 0.4*(95.0-50)/50},
		{"in +Inf bucket", b(0.1, 10, 0.5, 20, math.Inf(1), 100), 0.5},
	}
	for _, tc := range tests {
		got := quantile(0.95, tc.buckets)
		if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("%s: p95 = %v, want %v", tc.name, got, tc.want)
		}
	}
	d := delta(proxy.Stats{Requests: 30, Errors: 5, Buckets: b(0.1, 25, 1, 30)}, proxy.Stats{Requests: 10, Errors: 1, Buckets: b(0.1, 10, 1, 10)})
	if d.Requests != 20 || d.Errors != 4 || d.Buckets[0].Count != 15 || d.Buckets[1].Count != 20 {
		t.Errorf("delta = %+v", d)
	}
}

func TestCanaryP95Threshold(t *testing.T) {
	t.Parallel()
	svc := webService("canary", "ok")
	svc.Deploy.Steps = []stepCfg{{Weight: 50}}
	svc.Deploy.Analysis = &analysisCfg{MaxP95Latency: durationCfg(time.Nanosecond), MinRequests: 5}
	h := newHarness(t, configWith(svc))
	h.mustDeploy("")
	_, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "exceeds max_p95_latency 1ns") {
		t.Fatalf("err = %v", err)
	}
}

// drainRouter reports removed backends as draining with requests in
// flight until released, and counts how often it reported one busy.
type drainRouter struct {
	*fakeRouter
	mu       sync.Mutex
	inflight map[string]*proxy.BackendStatus
	busy     int
}

func (d *drainRouter) Backends(ctx context.Context) ([]proxy.BackendStatus, error) {
	out, _ := d.fakeRouter.Backends(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	in := map[string]bool{}
	for _, b := range out {
		in[b.Instance] = true
	}
	for id, b := range d.inflight {
		if !in[id] {
			out = append(out, *b)
			if b.InFlight > 0 {
				d.busy++
			}
		}
	}
	return out, nil
}

// stopRecorder notes when each instance was stopped.
type stopRecorder struct {
	runtime.Runtime
	mu      sync.Mutex
	stopped map[string]time.Time
}

func (s *stopRecorder) Stop(ctx context.Context, id string, g time.Duration) error {
	s.mu.Lock()
	s.stopped[id] = time.Now()
	s.mu.Unlock()
	return s.Runtime.Stop(ctx, id, g)
}

func TestDrainWaitsForInFlightRequests(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Replicas = 1
	svc.Deploy.DrainTimeout = durationCfg(5 * time.Second)
	h := newHarness(t, configWith(svc))
	dr := &drainRouter{fakeRouter: h.router, inflight: map[string]*proxy.BackendStatus{}}
	rec := &stopRecorder{Runtime: h.rt, stopped: map[string]time.Time{}}
	h.m.opts.Router, h.m.opts.Runtimes["process"] = dr, rec
	r1 := h.mustDeploy("")
	old := "web-default-" + r1.ID + "-1"
	dr.inflight[old] = &proxy.BackendStatus{Instance: old, Draining: true, InFlight: 2}
	released := make(chan time.Time, 1)
	go func() {
		// Release once the deploy has seen the requests in flight and
		// kept waiting for them.
		testkit.Poll(testkit.DefaultWait, func() bool { dr.mu.Lock(); defer dr.mu.Unlock(); return dr.busy >= 2 })
		dr.mu.Lock()
		dr.inflight[old].InFlight = 0
		dr.mu.Unlock()
		released <- time.Now()
	}()
	h.mustDeploy("")
	at := <-released
	rec.mu.Lock()
	stopped := rec.stopped[old]
	rec.mu.Unlock()
	if stopped.IsZero() || stopped.Before(at) {
		t.Errorf("old instance stopped at %v, before its requests finished at %v", stopped, at)
	}
}

func TestSmokeRunBlocksTheSwitch(t *testing.T) {
	t.Parallel()
	svc := webService("blue-green", "ok")
	svc.Deploy.Smoke = &smokeCfg{Run: `echo "checking $TUG_SMOKE_URL"; exit 4`}
	h := newHarness(t, configWith(svc))
	_, err := h.deploy("")
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "checking http://127.0.0.1:") {
		t.Fatalf("err = %v", err)
	}
	if n := len(h.router.current().Routes); n != 0 {
		t.Errorf("routes after failed smoke: %d", n)
	}
	svc.Deploy.Smoke = &smokeCfg{Path: "/healthz", ExpectStatus: 204}
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "want 204") {
		t.Fatalf("smoke path: %v", err)
	}
}

func TestStatusStickyAndShutdown(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "ok")
	svc.Sticky = &config.Sticky{Cookie: "sess", TTL: durationCfg(time.Hour)}
	svc.Environments = map[string]*config.ServiceEnvironment{"production": {Replicas: 3, Routes: []string{"shop.example.com"}}}
	h := newHarness(t, configWith(svc, "staging", "production"))
	h.mustDeploy("staging")
	rel, err := h.deploy("production")
	if err != nil {
		t.Fatal(err)
	}
	tb := h.router.current()
	var prod *proxy.Route
	for _, r := range tb.Routes {
		if r.Environment == "production" {
			prod = r
		}
	}
	if prod == nil || prod.Host != "shop.example.com" || prod.StickyCookie != "sess" || prod.StickyTTL != time.Hour || len(prod.Pools[0].Backends) != 3 {
		t.Fatalf("production route %+v", prod)
	}
	st, err := h.m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Environment != "production" || len(st[0].Instances) != 3 || st[0].Live[0] != (LivePool{rel.ID, 100}) || st[0].Routes[0] != "shop.example.com" {
		t.Errorf("status %+v", st)
	}
	if err := h.m.Shutdown(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if n := len(h.rt.ids()); n != 0 {
		t.Errorf("%d instances after shutdown", n)
	}
	if n := len(h.router.current().Routes); n != 0 {
		t.Errorf("%d routes after shutdown", n)
	}
}

// Shutdown waits for the deploys still running and returns as soon as the
// last one lets go of its service (woken, not polling); its ctx bounds
// the wait.
func TestShutdownJoinsRunningDeploys(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "./web"), "staging"))
	k := key{"web", "staging"}
	if err := h.m.acquire(context.Background(), k, nil); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.m.Shutdown(context.Background(), false) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned while a deploy ran: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.m.release(k)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return once the deploy ended")
	}

	// A deploy that never ends is waited for until ctx ends, no longer.
	h2 := newHarness(t, configWith(webService("rolling", "./web"), "staging"))
	if err := h2.m.acquire(context.Background(), k, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h2.m.Shutdown(ctx, false); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() == nil {
		t.Fatal("Shutdown returned before its ctx ended, with a deploy running")
	}
	h2.m.release(k)
}

// TestJobSmokeChecksTheLiveRelease: a deploy job's smoke checks run once
// all traffic is on the new release; one that fails sends traffic back to
// the previous release and fails the deploy; passing ones let it go live.
func TestJobSmokeChecksTheLiveRelease(t *testing.T) {
	t.Parallel()
	h := newHarness(t, configWith(webService("rolling", "ok")))
	first := h.mustDeploy("")
	_, err := h.m.Deploy(context.Background(), Request{Service: "web", Who: "tester",
		Smoke: []smokeCfg{{Path: "/", ExpectStatus: 200, ExpectBody: "hello from nowhere"}}}, h.progress)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), `does not contain "hello from nowhere"`) {
		t.Fatalf("failing smoke: %v", err)
	}
	for _, r := range h.router.current().Routes {
		if len(r.Pools) != 1 || r.Pools[0].Release != first.ID || r.Pools[0].Weight != 100 {
			t.Errorf("after a failed smoke check, route %s: %+v", r.Host, r.Pools)
		}
	}
	rel, err := h.m.Deploy(context.Background(), Request{Service: "web", Who: "tester",
		Smoke: []smokeCfg{{Path: "/", ExpectBody: "hello from"}, {Run: `case "$TUG_SMOKE_URL" in http://127.0.0.1:*) ;; *) exit 1;; esac; [ -n "$TUG_RELEASE" ]`}}}, h.progress)
	if err != nil || rel.Status != StatusLive {
		t.Fatalf("passing smoke: %v %+v", err, rel)
	}
	passed := 0
	for _, e := range h.events {
		if e.Phase == "smoke" && e.Release == rel.ID && strings.Contains(e.Message, "passed") {
			passed++
		}
	}
	if passed != 2 {
		t.Errorf("smoke events of %s: %d passed", rel.ID, passed)
	}
}
