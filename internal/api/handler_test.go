package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/store"
)

const testYAML = `version: 1
project: shop
services:
  shop:
    run: ./bin/shop
    routes: ["shop.localhost"]
    deploy: {strategy: canary}
    environments:
      production: {routes: ["shop-prod.localhost"]}
environments:
  staging: {}
  production: {approval: required}
`

func mustConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("tug.yaml", []byte(src), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeDeployer records calls and answers with what the test set.
type fakeDeployer struct {
	mu       sync.Mutex
	requests []deploy.Request
	events   []deploy.Event
	rel      *deploy.Release
	err      error
	releases []deploy.Release
	status   []deploy.ServiceStatus
	rejected []string
	// With block set, Deploy waits after its events until block closes or
	// its ctx ends, then sends how it ended to ended.
	block chan struct{}
	ended chan error
}

func (f *fakeDeployer) Deploy(ctx context.Context, req deploy.Request, p deploy.Progress) (*deploy.Release, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	for _, e := range f.events {
		p(e)
	}
	if f.block != nil {
		var err error
		select {
		case <-f.block:
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.ended <- err
		if err != nil {
			return nil, err
		}
	}
	return f.rel, f.err
}

func (f *fakeDeployer) Down(context.Context, string) ([]string, error) { return nil, f.err }

func (f *fakeDeployer) Rollback(ctx context.Context, service, env, who string, p deploy.Progress) (*deploy.Release, error) {
	return f.Deploy(ctx, deploy.Request{Service: service, Environment: env, Who: who}, p)
}

func (f *fakeDeployer) Approve(_ context.Context, id, _ string) (*deploy.Release, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &deploy.Release{ID: id, Status: deploy.StatusDeploying}, nil
}

func (f *fakeDeployer) Reject(_ context.Context, id, _ string) (*deploy.Release, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	f.rejected = append(f.rejected, id)
	f.mu.Unlock()
	return &deploy.Release{ID: id, Status: deploy.StatusFailed, Reason: "rejected by ann"}, nil
}

func (f *fakeDeployer) Releases(_ context.Context, service, env string) ([]deploy.Release, error) {
	return f.releases, f.err
}

func (f *fakeDeployer) Status(context.Context) ([]deploy.ServiceStatus, error) {
	return f.status, nil
}

// fakeConfig is a ConfigSource whose Apply answers next.
type fakeConfig struct {
	mu   sync.Mutex
	snap ConfigSnapshot
	next func() (*config.Config, error)
}

func (f *fakeConfig) Current() ConfigSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

func (f *fakeConfig) Apply(context.Context) (ConfigSnapshot, bool, error) {
	c, err := f.next()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		return f.snap, false, err
	}
	f.snap = ConfigSnapshot{Config: c, Source: []byte(testYAML), LoadedAt: time.Now(), Hash: "new"}
	return f.snap, true, nil
}

func newTestServer(t *testing.T, d *fakeDeployer, opts ...func(*Options)) (*Client, *Handler, *fakeConfig) {
	t.Helper()
	fc := &fakeConfig{snap: ConfigSnapshot{Config: mustConfig(t, testYAML), Source: []byte(testYAML), LoadedAt: time.Unix(1, 0), Hash: "old"}}
	o := Options{Deployer: d, Config: fc, ProxyHTTP: "127.0.0.1:8080"}
	for _, f := range opts {
		f(&o)
	}
	h, err := NewHandler(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return NewClient(srv.URL), h, fc
}

func apiErr(t *testing.T, err error) *endpoint.Error {
	t.Helper()
	var e *endpoint.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *endpoint.Error, got %T %v", err, err)
	}
	return e
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cfgErr := config.Errors{{File: "tug.yaml", Pos: config.Pos{Line: 3, Col: 5}, Path: "services.web", Msg: "bad"}}
	for _, tc := range []struct {
		err    error
		status int
		code   endpoint.Code
	}{
		{fmt.Errorf("x: %w", deploy.ErrUnknownService), 404, "unknown_service"},
		{fmt.Errorf("x: %w", deploy.ErrUnknownEnvironment), 404, "unknown_environment"},
		{fmt.Errorf("x: %w", deploy.ErrBusy), 409, "busy"},
		{fmt.Errorf("x: %w", deploy.ErrNoPrevious), 409, "no_previous_release"},
		{fmt.Errorf("x: %w", deploy.ErrNotAwaiting), 409, "not_awaiting_approval"},
		{fmt.Errorf("x: %w", deploy.ErrFailed), 422, "deploy_failed"},
		{fmt.Errorf("release r9: %w", store.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("push: %w", proxy.ErrUnreachable), 503, "proxy_unreachable"},
		{fmt.Errorf("silence: %w: bad matcher", alert.ErrInvalid), 400, "bad_request"},
		{fmt.Errorf("silence x: %w", alert.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("%w: since: bogus", logs.ErrBadQuery), 400, "bad_request"},
		{alert.ErrNoEngine, 503, "unavailable"},
		{fmt.Errorf("%w: no X-Hub-Signature-256 header", forge.ErrSignature), 401, "unauthorized"},
		{fmt.Errorf("%w: acme/other", runner.ErrUnknownRepository), 404, "not_found"},
		{fmt.Errorf("%w: unexpected end", forge.ErrPayload), 400, "bad_request"},
		{fmt.Errorf("%w: 12", runner.ErrNoRun), 404, "not_found"},
		{fmt.Errorf("%w: pipeline x runs on [push]", runner.ErrEventRefused), 400, "bad_request"},
		{cfgErr, 400, "invalid_config"},
		{badRequest("body: nope"), 400, "bad_request"},
		{errors.New("boom"), 500, "internal"},
	} {
		e := describe(tc.err)
		if e.Status != tc.status || e.Code != tc.code || e.Message != tc.err.Error() {
			t.Errorf("%v: got %d %q %q, want %d %q", tc.err, e.Status, e.Code, e.Message, tc.status, tc.code)
		}
	}
	e := describe(cfgErr)
	if len(e.Details) != 1 || e.Details[0].Line != 3 || e.Details[0].Col != 5 || e.Details[0].Path != "services.web" {
		t.Errorf("details = %+v", e.Details)
	}
}

func TestBadBodyNamesTheField(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{}
	_, h, _ := newTestServer(t, d)
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"service": 5}`, `field "service": want string, got number`},
		{`{"servce": "shop"}`, `unknown field "servce"`},
		{``, `empty body`},
		{`{"service": "shop"`, `truncated JSON`},
		{`{"service": "shop"} {}`, `unexpected data`},
		{`{"service": "shop",}`, `invalid JSON at byte`},
		{`{}`, `"service" is required`},
		{`[1]`, `want a JSON object`},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/deploys", strings.NewReader(tc.body)))
		var env endpoint.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s: answer is not JSON: %q", tc.body, rec.Body)
		}
		if rec.Code != 400 || !strings.Contains(env.Error.Message, tc.want) || !strings.HasPrefix(env.Error.Message, "body: ") {
			t.Errorf("%s: got %d %q, want 400 containing %q", tc.body, rec.Code, env.Error.Message, tc.want)
		}
	}
	if len(d.requests) != 0 {
		t.Fatalf("bad bodies reached the deployer: %v", d.requests)
	}
}

func TestUnknownNamesSuggest(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{}
	c, _, _ := newTestServer(t, d)
	ctx := context.Background()
	_, err := c.Deploy(ctx, DeployRequest{Service: "shpo"}, nil)
	e := apiErr(t, err)
	if e.Status != 404 || e.Code != "unknown_service" || !strings.Contains(e.Message, `(did you mean "shop"?)`) {
		t.Errorf("unknown service: %d %s %q", e.Status, e.Code, e.Message)
	}
	_, err = c.Deploy(ctx, DeployRequest{Service: "shop", Environment: "prodution"}, nil)
	e = apiErr(t, err)
	if e.Status != 404 || e.Code != "unknown_environment" || !strings.Contains(e.Message, `(did you mean "production"?)`) {
		t.Errorf("unknown env: %d %s %q", e.Status, e.Code, e.Message)
	}
	_, err = c.Releases(ctx, "shoop", "")
	if e = apiErr(t, err); e.Status != 404 || !strings.Contains(e.Message, `did you mean "shop"`) {
		t.Errorf("releases of unknown service: %d %q", e.Status, e.Message)
	}
	if len(d.requests) != 0 {
		t.Fatalf("unknown names reached the deployer: %v", d.requests)
	}
}

func TestDeployStreamsProgressThenRelease(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{
		events: []deploy.Event{{Release: "r1", Phase: "build", Message: "building"}, {Release: "r1", Phase: "done", Message: "live"}},
		rel:    &deploy.Release{ID: "r1", Status: deploy.StatusLive},
	}
	c, _, _ := newTestServer(t, d)
	var got []string
	rel, err := c.Deploy(context.Background(), DeployRequest{Service: "shop", Who: "ann"}, func(e deploy.Event) {
		got = append(got, e.Phase+":"+e.Message)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rel.ID != "r1" || strings.Join(got, ",") != "build:building,done:live" {
		t.Fatalf("rel=%+v events=%v", rel, got)
	}
	// Without --env the first declared environment is the target.
	if r := d.requests[0]; r.Environment != "staging" || r.Who != "ann" {
		t.Fatalf("request = %+v", r)
	}
}

func TestDeployFailureEndsTheStreamWithTheReason(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{
		events: []deploy.Event{{Release: "r2", Phase: "health", Message: "waiting"}},
		rel:    &deploy.Release{ID: "r2", Status: deploy.StatusFailed, Reason: "health check /healthz: 500"},
		err:    fmt.Errorf("r2: %w: health check /healthz: 500", deploy.ErrFailed),
	}
	c, _, _ := newTestServer(t, d)
	n := 0
	rel, err := c.Deploy(context.Background(), DeployRequest{Service: "shop"}, func(deploy.Event) { n++ })
	e := apiErr(t, err)
	if e.Code != "deploy_failed" || e.Status != 422 || !strings.Contains(e.Message, "/healthz: 500") {
		t.Fatalf("error = %+v", e)
	}
	if n != 1 || rel == nil || rel.Reason == "" {
		t.Fatalf("events=%d rel=%+v", n, rel)
	}
}

func TestErrorBeforeProgressKeepsItsStatus(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{err: fmt.Errorf("shop/staging: %w", deploy.ErrBusy)}
	c, _, _ := newTestServer(t, d)
	_, err := c.Rollback(context.Background(), RollbackRequest{Service: "shop", Environment: "production"}, nil)
	if e := apiErr(t, err); e.Status != http.StatusConflict || e.Code != "busy" {
		t.Fatalf("got %+v", e)
	}
}

func TestApprove(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{}
	c, _, _ := newTestServer(t, d)
	rel, err := c.Approve(context.Background(), "r7", "ann")
	if err != nil || rel.ID != "r7" {
		t.Fatalf("approve: %v %+v", err, rel)
	}
	d.err = fmt.Errorf("r7: %w", deploy.ErrNotAwaiting)
	_, err = c.Approve(context.Background(), "r7", "ann")
	if e := apiErr(t, err); e.Status != http.StatusConflict {
		t.Fatalf("got %+v", e)
	}
}

func TestReject(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{}
	c, _, _ := newTestServer(t, d)
	rel, err := c.Reject(context.Background(), "r8", "ann")
	if err != nil || rel.ID != "r8" || rel.Status != deploy.StatusFailed || len(d.rejected) != 1 || d.rejected[0] != "r8" {
		t.Fatalf("reject: %v %+v %v", err, rel, d.rejected)
	}
	d.err = fmt.Errorf("r8: %w", deploy.ErrNotAwaiting)
	_, err = c.Reject(context.Background(), "r8", "ann")
	if e := apiErr(t, err); e.Status != http.StatusConflict {
		t.Fatalf("got %+v", e)
	}
}

// A client that stops following a deploy (Ctrl-C, a dropped connection)
// leaves it running; only the server's life ends it.
func TestDeployOutlivesItsClient(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{
		events: []deploy.Event{{Release: "r3", Phase: "approval", Message: "needs approval"}},
		rel:    &deploy.Release{ID: "r3", Status: deploy.StatusLive},
		block:  make(chan struct{}),
		ended:  make(chan error, 1),
	}
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	c, _, _ := newTestServer(t, d, func(o *Options) { o.Life = life })

	follow := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := c.Deploy(ctx, DeployRequest{Service: "shop"}, func(deploy.Event) { cancel() })
		if err == nil {
			t.Fatal("the client was cancelled, yet Deploy returned no error")
		}
	}
	follow()
	select {
	case err := <-d.ended:
		t.Fatalf("the deploy ended with its client: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(d.block)
	if err := <-d.ended; err != nil {
		t.Fatalf("the deploy ended with %v, want its own end", err)
	}

	// The server's life does end a deploy.
	d.block = make(chan struct{})
	follow()
	endLife()
	select {
	case err := <-d.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the deploy outlived the server")
	}
}

func TestApplyRefusesBadConfig(t *testing.T) {
	t.Parallel()
	c, _, fc := newTestServer(t, &fakeDeployer{})
	fc.next = func() (*config.Config, error) {
		return config.Parse("tug.yaml", []byte("version: 1\nservices:\n  web: {replicas: many}\n"), config.LoadOptions{})
	}
	_, err := c.Apply(context.Background())
	e := apiErr(t, err)
	if e.Status != 400 || e.Code != "invalid_config" || len(e.Details) == 0 || e.Details[0].Line != 3 {
		t.Fatalf("got %+v", e)
	}
	if fc.Current().Hash != "old" {
		t.Fatal("a bad config replaced the running one")
	}
	fc.next = func() (*config.Config, error) { return mustConfig(t, testYAML), nil }
	resp, err := c.Apply(context.Background())
	if err != nil || !resp.Changed || resp.Hash != "new" {
		t.Fatalf("apply good: %v %+v", err, resp)
	}
}

func TestStatusShape(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{status: []deploy.ServiceStatus{{Service: "shop", Environment: "staging", Live: []deploy.LivePool{{Release: "r1", Weight: 100}}}}}
	c, h, _ := newTestServer(t, d)
	var raw map[string]any
	if err := json.Unmarshal(getBody(t, h, "/api/status"), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"project", "config_file", "environments", "services", "live", "proxy_http"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status lacks %q: %v", k, raw)
		}
	}
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Environments) != 2 || !st.Environments[0].Default || st.Environments[1].Approval != "required" {
		t.Errorf("environments = %+v", st.Environments)
	}
	if r := st.Services[0].Routes; r["staging"][0] != "shop.localhost" || r["production"][0] != "shop-prod.localhost" {
		t.Errorf("routes = %v", r)
	}
	if st.Live[0].Live[0].Weight != 100 {
		t.Errorf("live = %+v", st.Live)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	_, h, _ := newTestServer(t, &fakeDeployer{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         endpoint.Code
		msg          string
	}{
		{http.MethodGet, "/api/nope", 404, endpoint.CodeNoRoute, "no route"},
		{http.MethodGet, "/api/deploys", 405, endpoint.CodeMethodNotAllowed, "use POST"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var env endpoint.ErrorResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != tc.status || env.Error.Code != tc.code || !strings.Contains(env.Error.Message, tc.msg) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}

// A server built without a room answers its operations 503, in that
// room's error style.
func TestMissingRoomsAnswerUnavailable(t *testing.T) {
	c, h, _ := newTestServer(t, &fakeDeployer{})
	ctx := context.Background()
	if _, err := c.Alerts(ctx); apiErr(t, err).Status != 503 {
		t.Errorf("alerts: %v", err)
	}
	if err := c.Logs(ctx, logs.Params{Service: "web"}, func(logs.Line) error { return nil }); apiErr(t, err).Code != endpoint.CodeUnavailable {
		t.Errorf("logs: %v", err)
	}
	if _, err := c.Query(ctx, metrics.QueryParams{Query: "1"}); apiErr(t, err).Code != "unavailable" {
		t.Errorf("query: %v", err)
	}
	if _, err := c.Metrics(ctx); apiErr(t, err).Status != 503 {
		t.Errorf("metrics: %v", err)
	}
	var prom metrics.ErrorResponse
	if err := json.Unmarshal(getBody(t, h, "/api/v1/nope"), &prom); err != nil || prom.ErrorType != "not_found" {
		t.Errorf("unknown Prometheus endpoint: %+v %v", prom, err)
	}
}

func TestMetricsText(t *testing.T) {
	metricsH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tug_up 1\n") })
	c, _, _ := newTestServer(t, &fakeDeployer{}, func(o *Options) { o.Metrics = metricsH })
	if got, err := c.Metrics(context.Background()); err != nil || got != "tug_up 1\n" {
		t.Fatalf("metrics: %v %q", err, got)
	}
}

// getBody is the answer to GET path, whatever its status.
func getBody(t *testing.T, h http.Handler, path string) []byte {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Body.Bytes()
}
