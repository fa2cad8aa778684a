package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/testkit"
)

// TestPagesReadWithoutJavaScript fetches every page as a browser
// without JavaScript would: each parses as HTML, loads no script but
// the dashboard's own, and holds its content in the markup.
func TestPagesReadWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	for _, tc := range []struct {
		path   string
		status int
		want   []string
	}{
		{"/", 200, []string{"shop", "web", "staging", "production", "r1", "90%", "degraded", "not deployed", "Recent deploys", "1 critical", "Host"}},
		{"/services/web?env=staging", 200, []string{"live:", "r1", "r2", "awaiting_approval", "Request rate", "Error ratio (5xx)", "Latency", "Memory per instance", "Approve", "Deploy", "Roll back", "web-staging-r2-1"}},
		{"/services/web?env=staging&range=24h", 200, []string{"Request rate"}},
		{"/alerts", 200, []string{"Evil", "critical", "Acknowledge", "New silence", "silence…"}},
		{"/alerts?matchers=" + url.QueryEscape(`alertname="Evil"`), 200, []string{`value="alertname=&#34;Evil&#34;"`}},
		{"/services/web?env=staging&tz=Asia/Tokyo", 200, []string{"Times in Asia/Tokyo", "JST"}},
		{"/explore?q=" + url.QueryEscape(`sum by (release) (tug_proxy_requests_total)`), 200, []string{`{release="r1"}`, `{release="r2"}`}},
		{"/explore", 200, []string{"Explorer"}},
		{"/dashboards", 200, []string{"Business <b>"}},
		{"/dashboards/business?range=1h", 200, []string{"Business <b>", "Orders", "Orders per minute", "warning 5/min", "all web"}},
		{"/pipelines", 200, []string{"#1", "ci", "running", "0123456789"}},
		{"/runs/1", 200, []string{"Run #1", "build", "test[go=<1>]", "41 passed, 1 failed, 2 skipped", "TestX <b>", "81.5%", "compiling"}},
		{"/incidents", 200, []string{"#1", "checkout down", "P1"}},
		{"/incidents/1", 200, []string{"Incident #1", "Timeline", "note <script>", "Acknowledge"}},
		{"/login", 200, []string{"API token"}},
		{"/assets/style.css", 200, []string{"prefers-color-scheme"}},
		{"/assets/app.js", 200, []string{"EventSource"}},
	} {
		st, body := b.get(tc.path)
		if st != tc.status {
			t.Errorf("%s: %d, want %d\n%s", tc.path, st, tc.status, body)
			continue
		}
		text := body
		if !strings.HasPrefix(tc.path, "/assets/") {
			text = parse(t, body)
			if strings.Contains(body, "NaN") {
				t.Errorf("%s: NaN drawn (a quantile of no requests)", tc.path)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(text, w) && !strings.Contains(body, w) {
				t.Errorf("%s: no %q in:\n%s", tc.path, w, text)
			}
		}
	}
}

// TestUnknownThingsAre404 answers a 404 page for a service, environment,
// run or incident that does not exist, and for no page at all.
func TestUnknownThingsAre404(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	for _, path := range []string{"/services/nope", "/services/web?env=nope", "/runs/abc", "/runs/0", "/runs/99", "/dashboards/nope", "/incidents/x", "/incidents/99", "/nothing/here"} {
		st, body := b.get(path)
		if st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404\n%s", path, st, body)
		}
		parse(t, body)
	}
}

// TestUserTextIsEscaped puts markup and quotes in release reasons, who
// deployed, an instance's last exit, label values (an alert's, a
// series'), a silence's matchers and comment and a bad query: every page
// shows them as text.
func TestUserTextIsEscaped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	st, _, _ := b.post("/silences", url.Values{"csrf": {b.csrf("/alerts")}, "matchers": {`service="<script>alert(2)</script>"`}, "duration": {"1h"}, "comment": {evil}})
	if st != http.StatusSeeOther {
		t.Fatalf("silence: %d", st)
	}
	for _, path := range []string{"/", "/services/web?env=staging", "/alerts", "/pipelines", "/runs/1", "/incidents", "/incidents/1",
		"/explore?q=" + url.QueryEscape(`tug_instance_resident_memory_bytes`),
		"/explore?q=" + url.QueryEscape(`sum(<script>alert(3)</script>`)} {
		_, body := b.get(path)
		if strings.Contains(body, "<script>alert") {
			t.Errorf("%s: unescaped markup:\n%s", path, body)
		}
		text := parse(t, body)
		if path != "/" && !strings.Contains(text, "<script>alert") {
			t.Errorf("%s: the text with markup is not shown at all:\n%s", path, text)
		}
	}
}

// TestBadExpressionShowsInline: the explorer shows the engine's error
// under the box, not an error page.
func TestBadExpressionShowsInline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	st, body := b.get("/explore?q=" + url.QueryEscape("sum(rate(x[5m])"))
	if st != http.StatusOK || !strings.Contains(body, `id="query-error"`) || !strings.Contains(parse(t, body), "unclosed left parenthesis") {
		t.Fatalf("%d\n%s", st, body)
	}
}

// TestFormsNeedTheirCSRFToken: a POST without the session's token, with
// another token, or from another origin is refused (403) and changes
// nothing; with it, the action goes through the API.
func TestFormsNeedTheirCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.socketServer()
	b := newBrowser(t, srv)
	token := b.csrf("/services/web?env=staging")
	for name, form := range map[string]url.Values{
		"no token":    {"env": {"staging"}},
		"wrong token": {"env": {"staging"}, "csrf": {"x" + token}},
	} {
		if st, body, _ := b.post("/services/web/rollback", form); st != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("%s: %d\n%s", name, st, body)
		}
	}
	// Another session's token is no good either.
	other := newBrowser(t, srv)
	if st, _, _ := other.post("/services/web/rollback", url.Values{"csrf": {token}, "env": {"staging"}}); st != http.StatusForbidden {
		t.Errorf("another session's token: %d", st)
	}
	// A browser's cross-site POST carrying the right token is refused too.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/services/web/rollback", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := b.hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin: %v %v", resp, err)
	}
	if _, rb := e.dep.calls(); rb != 0 {
		t.Fatalf("a refused form rolled back %d times", rb)
	}
	st, body, loc := b.post("/services/web/rollback", url.Values{"csrf": {token}, "env": {"staging"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "/services/web") {
		t.Fatalf("rollback: %d %s %s", st, loc, body)
	}
	if _, rb := e.dep.calls(); rb != 1 {
		t.Fatalf("rollbacks: %d", rb)
	}
}

// TestRolesAndSessions logs in with tokens over TCP: the cookie is
// HttpOnly, SameSite=Strict and Secure under TLS; a viewer sees no
// deploy, rollback or approve button and a forged POST gets 403 from the
// API (and the refusal is audited); a deployer's deploy goes through and
// is audited under the token's name from the dashboard; revoking the
// token ends the session.
func TestRolesAndSessions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	deployerTok := createToken(t, e, "shipper", endpoint.Deployer)
	srv := e.remoteServer(true, api.RemoteOptions{})

	// Without a session: the login page.
	anon := newBrowser(t, srv)
	st, _ := anon.get("/services/web")
	if st != http.StatusSeeOther {
		t.Fatalf("without login: %d", st)
	}
	bad := url.Values{"csrf": {anon.csrf("/login")}, "token": {"tug_nope"}}
	if st, body, _ := anon.post("/login", bad); st != http.StatusUnauthorized || !strings.Contains(body, "not a valid token") {
		t.Fatalf("bad token: %d %s", st, body)
	}
	e.mu.Lock()
	if len(e.refused) != 1 || strings.Contains(e.refused[0], "tug_nope") {
		t.Fatalf("refused logins reported: %q", e.refused)
	}
	e.mu.Unlock()

	vb := newBrowser(t, srv)
	resp, err := vb.hc.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieName {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %+v", c)
	}
	vtok := createToken(t, e, "viewer2", endpoint.Viewer)
	vb.login(vtok)
	_, body := vb.get("/services/web?env=staging")
	text := parse(t, body)
	if !strings.Contains(text, "token:viewer2") || strings.Contains(body, `id="deploy"`) || strings.Contains(body, `id="rollback"`) || strings.Contains(body, "Approve") {
		t.Fatalf("a viewer's service page offers actions:\n%s", body)
	}
	if _, body := vb.get("/alerts"); strings.Contains(body, "New silence") || strings.Contains(body, ">Acknowledge<") {
		t.Fatalf("a viewer's alerts page offers actions:\n%s", body)
	}
	csrf := vb.csrf("/services/web?env=staging")
	if st, body, _ := vb.post("/services/web/deploy", url.Values{"csrf": {csrf}, "env": {"staging"}}); st != http.StatusForbidden || !strings.Contains(body, "needs the deployer role") {
		t.Fatalf("a viewer's forged deploy: %d\n%s", st, body)
	}
	if d, _ := e.dep.calls(); d != 0 {
		t.Fatalf("a viewer deployed")
	}

	db := newBrowser(t, srv)
	db.login(deployerTok)
	_, body = db.get("/services/web?env=staging")
	if !strings.Contains(body, `id="deploy"`) || !strings.Contains(body, "Approve") {
		t.Fatalf("a deployer's page has no deploy button:\n%s", body)
	}
	st, _, loc := db.post("/services/web/deploy", url.Values{"csrf": {db.csrf("/services/web?env=staging")}, "env": {"staging"}, "version": {"HEAD"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "flash=deploy") {
		t.Fatalf("deploy: %d %s", st, loc)
	}
	testkit.Eventually(t, 5*time.Second, "the deploy", func() bool { d, _ := e.dep.calls(); return d == 1 })
	testkit.Eventually(t, 5*time.Second, "the audit records", func() bool {
		recs, err := e.audit.Query(context.Background(), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		var deployed, refused bool
		for _, r := range recs {
			deployed = deployed || (r.Actor == "token:shipper" && r.Action == "POST /api/deploys" && strings.HasPrefix(r.Source, "dashboard ") && r.Outcome == audit.OK)
			refused = refused || (r.Actor == "token:viewer2" && r.Action == "POST /api/deploys" && r.Outcome == audit.Denied)
		}
		return deployed && refused
	})

	// Revoking the token ends the session.
	if _, err := e.tokens.Revoke("viewer2", "test"); err != nil {
		t.Fatal(err)
	}
	if st, body := vb.get("/"); st != http.StatusSeeOther {
		t.Log(body)
		t.Fatalf("after revocation: %d", st)
	}
}

func createToken(t *testing.T, e *env, name string, role endpoint.Role) string {
	t.Helper()
	_, v, err := e.tokens.Create(name, role, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	return v.Reveal()
}

// TestWithoutTokensLoopbackOnly: a server without tokens serves its
// dashboard on a loopback listener as the local admin, refuses it on
// another address, and refuses a Host that is not the listener's (DNS
// rebinding).
func TestWithoutTokensLoopbackOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.remoteServer(false, api.RemoteOptions{})
	b := newBrowser(t, srv)
	st, body := b.get("/")
	if st != http.StatusOK || !strings.Contains(body, "local (dashboard on loopback, read-only)") {
		t.Fatalf("loopback without tokens: %d\n%s", st, body)
	}
	// Read-only: no deploy button, and a forged deploy is the API's 403.
	st, body = b.get("/services/web")
	if st != http.StatusOK || strings.Contains(body, `action="/services/web/deploy"`) {
		t.Fatalf("loopback without tokens shows actions: %d\n%s", st, body)
	}
	if st, _, _ := b.post("/services/web/deploy", url.Values{"csrf": {b.csrf("/login")}}); st != http.StatusForbidden {
		t.Fatalf("a deploy from loopback without a token: %d, want 403", st)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "evil.example"
	if resp, err := b.hc.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a rebinding Host: %v %v", resp, err)
	}
	// The same dashboard as if bound to another address.
	h := e.dash.Remote(api.RemoteOptions{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 7070}})
	rec := httptest.NewRecorder()
	r, _ := http.NewRequest(http.MethodGet, "http://192.0.2.1:7070/", nil)
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "loopback only") {
		t.Fatalf("off loopback without tokens: %d %s", rec.Code, rec.Body.String())
	}
}

// TestLiveStreamComesBackAfterRestart reads the overview's event stream,
// stops the server and starts another on the same address (the browser's
// EventSource reconnects by itself): the stream works again and its
// first message carries the whole part.
func TestLiveStreamComesBackAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := testkit.FreeAddr(t)
	serve := func() *http.Server {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: e.newDashboard().Socket()}
		go srv.Serve(ln)
		return srv
	}
	read := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/services/web?env=staging", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"id":"state"`) {
				if !strings.Contains(sc.Text(), "r2") {
					t.Fatalf("state part: %s", sc.Text())
				}
				return
			}
		}
		t.Fatalf("stream ended: %v", sc.Err())
	}
	srv := serve()
	read()
	srv.Close()
	srv = serve()
	defer srv.Close()
	read()
}

// TestStreamSendsChanges: a live page's stream sends a part again when
// it changes (the canary's weight moves).
func TestStreamSendsChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := e.socketServer()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	seen := 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `"id":"services"`) {
			continue
		}
		seen++
		if seen == 1 {
			e.dep.mu.Lock()
			st := e.dep.status[0] // a new status: answers being written still read the old one
			st.Live = []deploy.LivePool{{Release: "r2", Weight: 100}}
			e.dep.status = []deploy.ServiceStatus{st}
			e.dep.mu.Unlock()
			continue
		}
		if !strings.Contains(line, "100%") {
			t.Fatalf("changed part: %s", line)
		}
		return
	}
	t.Fatalf("no change sent: %v", sc.Err())
}

// TestAlertActions: acknowledging an alert and expiring a silence go
// through the API; a bad silence shows its error on the form.
func TestAlertActions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	csrf := b.csrf("/alerts")
	st, _, loc := b.post("/silences", url.Values{"csrf": {csrf}, "matchers": {"not a matcher{"}, "duration": {"1h"}})
	if st != http.StatusSeeOther || !strings.Contains(loc, "error=") {
		t.Fatalf("bad silence: %d %s", st, loc)
	}
	if _, body := b.get(loc); !strings.Contains(body, `class="error"`) {
		t.Fatalf("no error on the form:\n%s", body)
	}
	if st, _, _ := b.post("/silences", url.Values{"csrf": {csrf}, "matchers": {`alertname="Evil"`}, "duration": {"1h"}}); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	alerts, err := api.InProcess(e.api).Silences(context.Background())
	if err != nil || len(alerts) != 1 {
		t.Fatalf("%v %v", alerts, err)
	}
	if st, _, _ := b.post("/silences/"+alerts[0].ID+"/expire", url.Values{"csrf": {csrf}}); st != http.StatusSeeOther {
		t.Fatal(st)
	}
	firing, _ := api.InProcess(e.api).Alerts(context.Background())
	var id string
	for _, a := range firing {
		if a.State == "firing" {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("no firing alert: %+v", firing)
	}
	if st, body, _ := b.post("/alerts/"+id+"/ack", url.Values{"csrf": {csrf}}); st != http.StatusSeeOther {
		t.Fatalf("ack: %d %s", st, body)
	}
	firing, _ = api.InProcess(e.api).Alerts(context.Background())
	for _, a := range firing {
		if a.ID == id && a.AckedBy == "" {
			t.Fatalf("not acknowledged: %+v", a)
		}
	}
}

// TestIncidentAck acknowledges an incident from its page.
func TestIncidentAck(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	st, _, loc := b.post("/incidents/1/ack", url.Values{"csrf": {b.csrf("/incidents/1")}, "comment": {"on it"}})
	if st != http.StatusSeeOther || loc != "/incidents/1?flash=acknowledged" {
		t.Fatalf("ack: %d %s", st, loc)
	}
	_, body := b.get(loc)
	if text := parse(t, body); !strings.Contains(text, "acknowledged by local") {
		t.Fatalf("after the ack:\n%s", text)
	}
}

// TestServiceLogTail shows the service's newest lines, filtered by grep.
func TestServiceLogTail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := newBrowser(t, e.socketServer())
	_, body := b.get("/services/web?env=staging")
	if text := parse(t, body); !strings.Contains(text, "GET /cart <script>") || !strings.Contains(text, "health ok") {
		t.Fatalf("log tail:\n%s", text)
	}
	_, body = b.get("/services/web?env=staging&grep=" + url.QueryEscape("^GET"))
	if text := parse(t, body); !strings.Contains(text, "GET /cart") || strings.Contains(text, "health ok") {
		t.Fatalf("log tail with grep:\n%s", text)
	}
	_, body = b.get("/services/web?env=staging&grep=" + url.QueryEscape("(["))
	if !strings.Contains(body, `class="error"`) {
		t.Fatalf("a bad grep shows no error:\n%s", body)
	}
}

// A login returns only to a page of this server.
func TestLoginReturnsOnlyToThisServer(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/services/web?env=staging": "/services/web?env=staging",
		"":                          "/",
		"https://evil.example/":     "/",
		"//evil.example/":           "/",
		"/\\evil.example/":          "/",
		"evil.example":              "/",
		"javascript:alert(1)":       "/",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
