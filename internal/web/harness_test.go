package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/net/html"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// evil is what the tests put wherever a user's text lands (release
// reasons, silences, log lines, label values, service routes).
const evil = `<script>alert("x")</script>'"`

const testYAML = `version: 1
project: shop
services:
  web:
    run: ./web
    routes: [web.localhost]
    environments: {production: {routes: [web.example]}}
    deploy: {strategy: canary, steps: [{weight: 10, pause: 1m}, {weight: 100}]}
  api: {run: ./api, routes: [api.localhost], environments: {production: {routes: [api.example]}}}
environments:
  staging: {}
  production: {}
dashboards:
  business:
    title: Business <b>
    rows:
      - title: Orders
        panels:
          - {title: Orders per minute, query: "sum by (service) (rate(tug_proxy_requests_total[5m])) * 60", unit: per_minute, legend: "all {{service}}", thresholds: {warning: 5, below: true}}
alerts:
  - alert: Evil
    expr: vector(1)
    labels: {service: "web", note: "<script>alert(1)</script>"}
    severity: critical
`

// fakeDeployer answers with fixed releases and records deploys.
type fakeDeployer struct {
	mu       sync.Mutex
	deploys  []deploy.Request
	rollback int
	approved []string
	releases []deploy.Release
	status   []deploy.ServiceStatus
}

func (f *fakeDeployer) Deploy(_ context.Context, req deploy.Request, p deploy.Progress) (*deploy.Release, error) {
	f.mu.Lock()
	f.deploys = append(f.deploys, req)
	f.mu.Unlock()
	p(deploy.Event{Time: time.Now(), Release: "r9", Phase: "start", Message: "starting"})
	return &deploy.Release{ID: "r9", Service: req.Service, Environment: req.Environment, Status: deploy.StatusLive}, nil
}

func (f *fakeDeployer) Rollback(_ context.Context, service, env, who string, p deploy.Progress) (*deploy.Release, error) {
	f.mu.Lock()
	f.rollback++
	f.mu.Unlock()
	p(deploy.Event{Time: time.Now(), Release: "r1", Phase: "traffic", Message: "back"})
	return &deploy.Release{ID: "r1", Service: service, Environment: env, Status: deploy.StatusLive}, nil
}

func (f *fakeDeployer) Approve(_ context.Context, id, _ string) (*deploy.Release, error) {
	f.mu.Lock()
	f.approved = append(f.approved, id)
	f.mu.Unlock()
	return &deploy.Release{ID: id, Service: "web", Environment: "staging", Status: deploy.StatusDeploying}, nil
}

func (f *fakeDeployer) Reject(_ context.Context, id, _ string) (*deploy.Release, error) {
	return &deploy.Release{ID: id, Service: "web", Environment: "staging", Status: deploy.StatusFailed}, nil
}

func (f *fakeDeployer) Releases(_ context.Context, service, _ string) ([]deploy.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []deploy.Release
	for _, r := range f.releases {
		if r.Service == service {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeDeployer) Status(context.Context) ([]deploy.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeDeployer) Down(context.Context, string) ([]string, error) { return nil, nil }

func (f *fakeDeployer) calls() (deploys, rollbacks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.deploys), f.rollback
}

type fixedConfig struct{ snap api.ConfigSnapshot }

func (f fixedConfig) Current() api.ConfigSnapshot { return f.snap }
func (f fixedConfig) Apply(context.Context) (api.ConfigSnapshot, bool, error) {
	return f.snap, false, nil
}

// env is a dashboard over a real API handler with a fake deployer, a
// real TSDB, alert engine, audit log and tokens.
type env struct {
	t      *testing.T
	dep    *fakeDeployer
	api    *api.Handler
	tokens *access.Tokens
	audit  *audit.Log
	mon    *metrics.Monitor
	dash   *Handler
	now    time.Time

	mu      sync.Mutex
	refused []string // the logins refused
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "tug.yaml"), []byte(testYAML), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	dep := &fakeDeployer{
		releases: []deploy.Release{
			{ID: "r2", Service: "web", Environment: "staging", Status: deploy.StatusAwaiting, Who: "ann", CreatedAt: now.Add(-10 * time.Minute), Revision: "abcdef1234567", Reason: evil},
			{ID: "r1", Service: "web", Environment: "staging", Status: deploy.StatusLive, Who: evil, CreatedAt: now.Add(-50 * time.Minute)},
		},
		status: []deploy.ServiceStatus{{Service: "web", Environment: "staging", Routes: []string{"web.localhost"},
			Live: []deploy.LivePool{{Release: "r1", Weight: 90}, {Release: "r2", Weight: 10}},
			Instances: []runtime.Instance{
				{ID: "web-staging-r1-1", Service: "web", Environment: "staging", Release: "r1", State: runtime.Running, StartedAt: now.Add(-time.Hour)},
				{ID: "web-staging-r2-1", Service: "web", Environment: "staging", Release: "r2", State: runtime.Restarting, LastExit: evil, StartedAt: now.Add(-time.Minute)},
			}}},
	}
	mon, err := metrics.New(metrics.Options{Dir: filepath.Join(dir, "tsdb"), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	writeSamples(t, mon, now)
	eng, err := alert.New(context.Background(), alert.Options{Config: cfg, Queryable: mon.Storage(), Appendable: mon.Storage(), QueryEngine: mon.Engine()})
	if err != nil {
		t.Fatal(err)
	}
	eng.Evaluate(context.Background())
	tokens, err := access.OpenTokens(filepath.Join(dir, "tokens.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
	alog, err := audit.Open(filepath.Join(dir, "audit"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	queue, incidents := historyOf(t, dir, cfg)
	lg := logsOf(t, dir, dep.status[0].Instances)
	h, err := api.NewHandler(api.Options{
		Runs:      queue,
		Logs:      lg,
		Incidents: func() *incident.Manager { return incidents },
		Deployer:  dep,
		Config:    fixedConfig{api.ConfigSnapshot{Config: cfg, Source: []byte(testYAML), LoadedAt: now, Hash: "h"}},
		Alerts:    func() *alert.Engine { return eng },
		Monitor:   mon,
		Tokens:    tokens,
		Audit:     alog,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dep: dep, api: h, tokens: tokens, audit: alog, mon: mon, now: now}
	e.dash = e.newDashboard()
	return e
}

func (e *env) newDashboard() *Handler {
	d, err := New(Options{API: e.api, Tokens: e.tokens, Tick: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
		LoginRefused: func(source, token, reason string) {
			e.mu.Lock()
			e.refused = append(e.refused, token+": "+reason)
			e.mu.Unlock()
		}})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// writeSamples puts an hour of request counters of two releases of web
// into the TSDB.
func writeSamples(t *testing.T, mon *metrics.Monitor, now time.Time) {
	t.Helper()
	app := mon.Storage().Appender(context.Background())
	for i := 0; i <= 240; i++ {
		ts := now.Add(-time.Hour + time.Duration(i)*15*time.Second).UnixMilli()
		for _, rel := range []string{"r1", "r2"} {
			for _, s := range []struct {
				name, code string
				v          float64
			}{{"tug_proxy_requests_total", "200", float64(i * 30)}, {"tug_proxy_requests_total", "500", float64(i)}} {
				ls := labels.FromStrings("__name__", s.name, "service", "web", "environment", "staging", "release", rel, "code", s.code)
				if _, err := app.Append(0, ls, ts, s.v); err != nil {
					t.Fatal(err)
				}
			}
		}
		// No request took any time: every latency quantile is NaN.
		for _, le := range []string{"0.1", "+Inf"} {
			if _, err := app.Append(0, labels.FromStrings("__name__", "tug_proxy_request_duration_seconds_bucket", "service", "web", "environment", "staging", "release", "r1", "le", le), ts, 0); err != nil {
				t.Fatal(err)
			}
		}
		ls := labels.FromStrings("__name__", "tug_instance_resident_memory_bytes", "service", "web", "environment", "staging", "release", "r1", "instance", evil)
		if _, err := app.Append(0, ls, ts, 30<<20); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

// socketServer serves the dashboard as on the unix socket (the local
// admin), over httptest.
func (e *env) socketServer() *httptest.Server {
	srv := httptest.NewServer(e.dash.Socket())
	e.t.Cleanup(srv.Close)
	return srv
}

// remoteServer serves the dashboard as on a TCP listener.
func (e *env) remoteServer(tls bool, o api.RemoteOptions) *httptest.Server {
	srv := httptest.NewUnstartedServer(nil)
	o.Addr = srv.Listener.Addr()
	srv.Config.Handler = e.dash.Remote(o)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	e.t.Cleanup(srv.Close)
	return srv
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Transport: srv.Client().Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, base: srv.URL, hc: hc}
}

// get fetches path and returns its status and body.
func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.hc.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// post sends a form and returns the answer's status, body and Location.
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	resp, err := b.hc.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the forms on path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body := b.get(path)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s:\n%s", path, body)
	}
	return m[1]
}

// login logs in with token.
func (b *browser) login(token string) {
	b.t.Helper()
	st, body, loc := b.post("/login", url.Values{"csrf": {b.csrf("/login")}, "token": {token}, "next": {"/"}})
	if st != http.StatusSeeOther || loc != "/" {
		b.t.Fatalf("login: %d %s %s", st, loc, body)
	}
}

// parse checks body is well-formed HTML and returns its text (what a
// reader without JavaScript sees).
func parse(t *testing.T, body string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		if z.Next() == html.ErrorToken {
			if !errors.Is(z.Err(), io.EOF) {
				t.Fatalf("tokenizing: %v", z.Err())
			}
			break
		}
	}
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "script" {
			for _, a := range n.Attr {
				if a.Key == "src" && a.Val != "/assets/app.js" {
					t.Errorf("a script from %s", a.Val)
				}
			}
			if n.FirstChild != nil {
				t.Errorf("an inline script: %q", n.FirstChild.Data)
			}
		}
		if n.Type == html.TextNode {
			text.WriteString(n.Data)
			text.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return text.String()
}

// historyOf records a run of ci whose job names, branch, trigger and log
// lines hold markup, opens the run queue over it, and opens an incident
// with markup in its title and a note.
func historyOf(t *testing.T, dir string, cfg *config.Config) (*runner.Queue, *incident.Manager) {
	t.Helper()
	ctx := context.Background()
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	st, err := store.Open(ctx, filepath.Join(dir, ".tug"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	id, err := st.CreateRun(ctx, &store.Run{Pipeline: "ci", Status: store.StatusRunning, Branch: evil, Commit: "0123456789abcdef", Event: "manual", Origin: "manual", Trigger: evil, StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutJobs(ctx, id, []string{"build", "test[go=<1>]"}); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishJob(ctx, id, "build", store.StatusSuccess, "", nil, time.Now(), json.RawMessage(`{"report":{"passed":41,"failed":1,"skipped":2,"failures":["TestX <b>"],"coverage":81.5}}`)); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendLogs(ctx, id, []store.LogLine{{Job: "build", Attempt: 1, Time: time.Now(), Line: "compiling " + evil}}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tug.yaml")
	if err := os.WriteFile(cfgPath, []byte(testYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	q, err := runner.NewQueue(ctx, runner.QueueOptions{Store: st, StateDir: filepath.Join(dir, ".tug"), ConfigPath: cfgPath, Config: func() *config.Config { return cfg }})
	if err != nil {
		t.Fatal(err)
	}
	m, err := incident.New(ctx, incident.Options{Store: st, Config: func() *config.Config { return cfg }, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := m.Open(ctx, incident.OpenRequest{Title: "checkout down " + evil, Severity: "P1", Service: "web", Environment: "staging", By: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Note(ctx, inc.ID, incident.NoteRequest{By: "ann", Text: "note " + evil}); err != nil {
		t.Fatal(err)
	}
	return q, m
}

// logsOf runs the logs room over instance output files holding a line
// with markup and a line that a grep leaves out.
func logsOf(t *testing.T, dir string, insts []runtime.Instance) *logs.Logs {
	t.Helper()
	for _, in := range insts {
		p := filepath.Join(dir, ".tug", "instances", in.ID, "output.log")
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("GET /cart "+evil+"\nhealth ok\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := logs.New(ctx, logs.Options{StateDir: filepath.Join(dir, ".tug"), Poll: 20 * time.Millisecond,
		Instances: func(context.Context) ([]runtime.Instance, error) { return insts, nil }})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	testkit.Eventually(t, 10*time.Second, "the log lines stored", func() bool {
		got, _ := l.Search(ctx, logs.Query{Service: "web"})
		return len(got) == 2*len(insts)
	})
	return l
}
