package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/secret"
)

var listenerAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7070}

const ownHost = "127.0.0.1:7070"

// callers makes a token of each role and returns the Authorization
// header of each caller of the matrix ("" is no token).
func callers(t *testing.T, tokens *access.Tokens) map[string]string {
	t.Helper()
	out := map[string]string{"no token": ""}
	for _, r := range endpoint.Roles() {
		_, v, err := tokens.Create("t-"+string(r), r, 0, "test")
		if err != nil {
			t.Fatal(err)
		}
		out[string(r)] = "Bearer " + v.Reveal()
	}
	return out
}

func send(h http.Handler, method, target, auth, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = ownHost
	r.RemoteAddr = "127.0.0.1:40000"
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if method != http.MethodGet {
		r.Header.Set("Content-Type", endpoint.MediaJSON)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// matrixCall is one operation of the OpenAPI document, as a request.
type matrixCall struct {
	method, path, target, body string
	role                       endpoint.Role
	signed                     bool
}

// documentedCalls lists every operation of the OpenAPI document the
// server serves (read as the admin, over the TCP listener), with a
// request for each.
func documentedCalls(t *testing.T, remote http.Handler, adminAuth string, h *Handler) []matrixCall {
	t.Helper()
	rec := send(remote, "GET", "/api/openapi.json", adminAuth, "")
	var doc struct {
		Paths map[string]map[string]struct {
			Role string `json:"x-tug-role"`
			Auth string `json:"x-tug-auth"`
		} `json:"paths"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &doc) != nil {
		t.Fatalf("openapi.json: %d %s", rec.Code, rec.Body)
	}
	fill := regexp.MustCompile(`\{[^}]+\}`)
	var calls []matrixCall
	for path, item := range doc.Paths {
		for method, o := range item {
			c := matrixCall{method: strings.ToUpper(method), path: path, target: fill.ReplaceAllString(path, "x"),
				role: endpoint.Role(o.Role), signed: o.Auth == "signature"}
			if c.method != http.MethodGet {
				c.body = "{}"
			}
			idx := slices.IndexFunc(h.Ops(), func(op endpoint.Op) bool { return op.Pattern() == c.method+" "+path })
			if idx < 0 || h.Ops()[idx].Role != c.role || h.Ops()[idx].Signed != c.signed {
				t.Fatalf("%s %s: the document does not say what the route table does", c.method, path)
			}
			calls = append(calls, c)
		}
	}
	if len(calls) != len(h.Ops()) {
		t.Fatalf("the document lists %d operations, the route table %d", len(calls), len(h.Ops()))
	}
	slices.SortFunc(calls, func(a, b matrixCall) int { return strings.Compare(a.method+a.path, b.method+b.path) })
	return calls
}

// NameParams name a thing by path, for test operations.
type NameParams struct {
	Name string `path:"name"`
}

// withWebhooks serves the forges' webhooks with a secret each, so an
// unsigned request meets the signature check.
func withWebhooks(t *testing.T) func(*Options) {
	cfg := mustConfig(t, testYAML+"server:\n  webhooks: {github: {secret: HOOK}, gitlab: {secret: HOOK}, gitea: {secret: HOOK}}\n")
	hooks := forge.NewHooks(forge.HooksOptions{
		Config: func() *config.Config { return cfg },
		Secrets: func(context.Context, []string) (map[string]secret.Value, error) {
			return map[string]secret.Value{"HOOK": secret.New("hook-secret-value")}, nil
		},
	})
	return func(o *Options) { o.Hooks = hooks }
}

// TestRoleMatrix calls every operation of the OpenAPI document on the
// TCP listener with no token and with a viewer's, a deployer's and an
// admin's: without a token every one is 401 (an operation that checks a
// signature itself refuses an unsigned request with 401 too), a role the
// operation's x-tug-role does not allow is 403, and the refused calls
// change nothing; the allowed roles reach the operation. Operations added
// later are covered without editing this test.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	d := &fakeDeployer{rel: &deploy.Release{ID: "r1", Service: "shop", Status: deploy.StatusLive}}
	_, h, fc := newTestServer(t, d, withRooms(t), withWebhooks(t))
	applied := 0
	fc.next = func() (*config.Config, error) { applied++; return mustConfig(t, testYAML), nil }
	who := callers(t, h.opts.Tokens)
	remote := h.Remote(RemoteOptions{Addr: listenerAddr})
	calls := documentedCalls(t, remote, who["admin"], h)

	allowed := func(c matrixCall, caller string) bool {
		return caller != "no token" && !c.signed && endpoint.Role(caller).Allows(c.role)
	}
	// Refused calls first, then check that nothing changed.
	for _, c := range calls {
		for caller, auth := range who {
			if allowed(c, caller) {
				continue
			}
			rec := send(remote, c.method, c.target, auth, c.body)
			want := http.StatusForbidden
			if caller == "no token" || c.signed {
				want = http.StatusUnauthorized
			}
			var env endpoint.ErrorResponse
			_ = json.Unmarshal(rec.Body.Bytes(), &env)
			if rec.Code != want || env.Error.Message == "" {
				t.Errorf("%s %s as %s: %d, want %d: %s", c.method, c.path, caller, rec.Code, want, rec.Body)
			}
			if want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" && !c.signed {
				t.Errorf("%s %s as %s: 401 without WWW-Authenticate", c.method, c.path, caller)
			}
		}
	}
	silences := h.opts.Alerts().Silences()
	if len(d.requests) != 0 || len(d.rejected) != 0 || applied != 0 || len(h.opts.Tokens.List()) != 3 || len(silences) != 0 {
		t.Fatalf("refused calls had effects: deploys %v, rejects %v, applies %d, tokens %d, silences %d",
			d.requests, d.rejected, applied, len(h.opts.Tokens.List()), len(silences))
	}
	for _, c := range calls {
		for caller, auth := range who {
			if !allowed(c, caller) {
				continue
			}
			if rec := send(remote, c.method, c.target, auth, c.body); rec.Code == 401 || rec.Code == 403 {
				t.Errorf("%s %s as %s (allowed by %s): %d %s", c.method, c.path, caller, c.role, rec.Code, rec.Body)
			}
		}
	}
	// Every role is used by some operation, so each column of the matrix
	// means something.
	for _, r := range endpoint.Roles() {
		if !slices.ContainsFunc(calls, func(c matrixCall) bool { return c.role == r }) {
			t.Errorf("no operation needs the %s role", r)
		}
	}
}

// TestWrongTokens sends 10,000 requests with wrong tokens over a real
// TCP connection: right-shaped tokens with a real token's ID and a wrong
// secret, unknown ones, a revoked and an expired token, other schemes
// and garbage. Every one is 401, every one is in the audit log as a
// denied call, and no presented value is stored anywhere in it.
func TestWrongTokens(t *testing.T) {
	t.Parallel()
	withTokens, dir := withAccess(t)
	_, h, _ := newTestServer(t, &fakeDeployer{}, withTokens)
	tokens := h.opts.Tokens
	good, goodValue, _ := tokens.Create("good", endpoint.Viewer, 0, "test")
	_, revoked, _ := tokens.Create("old", endpoint.Admin, 0, "test")
	tokens.Revoke("old", "test")
	srv := httptest.NewServer(h.Remote(RemoteOptions{Addr: listenerAddr}))
	defer srv.Close()

	const n = 10000
	wrong := func(i int) string {
		switch i % 6 {
		case 0: // the real token's ID, a wrong secret of the right length
			return "Bearer tug_" + good.ID + "_" + fmt.Sprintf("%043d", i)
		case 1:
			return fmt.Sprintf("Bearer tug_%08d_%043d", i, i)
		case 2:
			return "Bearer " + revoked.Reveal()
		case 3:
			return "Basic " + fmt.Sprintf("wrong-%d", i)
		case 4:
			return fmt.Sprintf("Bearer wrong-%d", i)
		}
		return "Bearer " + goodValue.Reveal()[:55] // one character short
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				req, _ := http.NewRequest("GET", srv.URL+"/api/status", nil)
				req.Host = ownHost
				req.Header.Set("Authorization", wrong(i))
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if statuses[401] != n {
		t.Fatalf("answers: %v, want %d × 401", statuses, n)
	}
	// The right token still works after the flood.
	if rec := send(h.Remote(RemoteOptions{Addr: listenerAddr}), "GET", "/api/status", "Bearer "+goodValue.Reveal(), ""); rec.Code != 200 {
		t.Fatalf("the right token: %d", rec.Code)
	}

	recs, err := h.opts.Audit.Query(context.Background(), audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	denied, revokedNamed := 0, 0
	for _, r := range recs {
		if r.Outcome == audit.Denied && r.Action == "GET /api/status" && strings.HasPrefix(r.Detail, "credentials refused") && r.Source != "" {
			denied++
			if r.Actor == "token:old" {
				revokedNamed++
			}
		}
	}
	if denied != n || revokedNamed != (n+3)/6 {
		t.Fatalf("%d refusals audited (%d naming the revoked token), want %d", denied, revokedNamed, n)
	}
	data, err := os.ReadFile(filepath.Join(dir, audit.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"wrong-", fmt.Sprintf("%043d", 6), revoked.Reveal()[13:], goodValue.Reveal()[13:55]} {
		if bytes.Contains(data, []byte(leak)) {
			t.Fatalf("the audit log holds a presented value (%q)", leak)
		}
	}
	if rep, err := h.opts.Audit.Verify(); err != nil || !rep.OK() {
		t.Fatalf("verify after the flood: %+v %v", rep, err)
	}
}

// TestAuditRecordsCalls: changes, denied calls, failed calls and audited
// reads are recorded with their actor (the token's, or the socket's
// peer), action, target, source and outcome, a deploy with the release
// it made once it ended; and no secret, token, body or answer reaches
// the log.
func TestAuditRecordsCalls(t *testing.T) {
	t.Parallel()
	const secretValue = "s3cr3t/value+in=an answer&more"
	d := &fakeDeployer{rel: &deploy.Release{ID: "r1", Service: "shop", Status: deploy.StatusLive}}
	withTokens, dir := withAccess(t)
	_, h, _ := newTestServer(t, d, withRooms(t), withTokens)
	reveal := endpoint.Declare[NameParams, endpoint.None, map[string]string](http.MethodGet, "/api/test/reveal/{name}", endpoint.Admin, "test").
		Audited().JSON(func(context.Context, NameParams, endpoint.None) (map[string]string, error) {
		return map[string]string{"value": secretValue}, nil
	})
	rt, err := endpoint.NewRouter(append(h.routeTable(), reveal), endpoint.Options{Codes: errorCodes(), Check: h.check})
	if err != nil {
		t.Fatal(err)
	}
	h.router = rt
	who := callers(t, h.opts.Tokens)
	remote := h.Remote(RemoteOptions{Addr: listenerAddr})

	if rec := send(remote, "POST", "/api/deploys", who["deployer"], `{"service":"shop","who":"mallory"}`); rec.Code != 200 {
		t.Fatalf("deploy: %d %s", rec.Code, rec.Body)
	}
	send(remote, "POST", "/api/deploys", who["viewer"], `{"service":"shop"}`)
	send(remote, "POST", "/api/deploys", who["deployer"], `{"service":"nope"}`)
	if rec := send(remote, "GET", "/api/test/reveal/DATABASE_URL", who["admin"], ""); !strings.Contains(rec.Body.String(), secretValue) {
		t.Fatalf("reveal: %s", rec.Body)
	}
	created := send(remote, "POST", "/api/tokens", who["admin"], `{"name":"ops","role":"deployer"}`)
	var tok access.Created
	json.Unmarshal(created.Body.Bytes(), &tok)
	send(remote, "POST", "/api/silences", who["admin"], `{"matchers":"alertname=X","duration":"1h","comment":"`+secretValue+`"}`)
	send(remote, "GET", "/api/status", who["viewer"], "") // a read: not recorded
	sock := httptest.NewRequest("POST", "/api/releases/r7/approve", nil)
	sock = sock.WithContext(access.WithIdentity(sock.Context(), access.Identity{Actor: "ann (uid 1000)", Role: endpoint.Admin, Via: access.ViaSocket}))
	h.ServeHTTP(httptest.NewRecorder(), sock)

	want := []audit.Record{
		{Actor: "token:t-viewer", Action: "POST /api/deploys", Source: "127.0.0.1:40000", Outcome: audit.Denied,
			Detail: "forbidden: POST /api/deploys needs the deployer role; token:t-viewer has the viewer role"},
		{Actor: "token:t-deployer", Action: "POST /api/deploys", Target: "nope", Source: "127.0.0.1:40000", Outcome: audit.Failed},
		{Actor: "token:t-admin", Action: "GET /api/test/reveal/{name}", Target: "DATABASE_URL", Source: "127.0.0.1:40000", Outcome: audit.OK},
		{Actor: "token:t-admin", Action: "POST /api/tokens", Target: "ops", Source: "127.0.0.1:40000", Outcome: audit.OK},
		{Actor: "token:t-admin", Action: "POST /api/silences", Source: "127.0.0.1:40000", Outcome: audit.OK},
		{Actor: "ann (uid 1000)", Action: "POST /api/releases/{id}/approve", Target: "r7", Source: "unix", Outcome: audit.OK},
		{Actor: "token:t-deployer", Action: "POST /api/deploys", Target: "shop/staging", Source: "127.0.0.1:40000", Outcome: audit.OK, Detail: "release r1 live"},
	}
	var recs []audit.Record
	ok := false
	for range 200 { // the deploy's record is written when the deploy ends
		recs, _ = h.opts.Audit.Query(context.Background(), audit.Filter{})
		if ok = len(recs) == len(want); ok {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("%d records, want %d: %+v", len(recs), len(want), recs)
	}
	slices.SortStableFunc(recs, func(a, b audit.Record) int {
		return strings.Compare(strings.TrimPrefix(a.Detail, "release"), strings.TrimPrefix(b.Detail, "release"))
	})
	for _, w := range want {
		i := slices.IndexFunc(recs, func(r audit.Record) bool {
			return r.Actor == w.Actor && r.Action == w.Action && r.Target == w.Target && r.Source == w.Source && r.Outcome == w.Outcome &&
				(w.Detail == "" || r.Detail == w.Detail)
		})
		if i < 0 {
			t.Errorf("no record %+v in\n%+v", w, recs)
		}
	}
	if d.requests[0].Who != "token:t-deployer" {
		t.Errorf("the release records %q as its deployer: a token's caller cannot claim another name", d.requests[0].Who)
	}
	data, _ := os.ReadFile(filepath.Join(dir, audit.LogFile))
	for _, leak := range []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), url.QueryEscape(secretValue),
		url.PathEscape(secretValue), strings.ReplaceAll(secretValue, "&", `\u0026`), tok.Value, tok.Value[13:], strings.TrimPrefix(who["admin"], "Bearer "), "mallory"} {
		if leak == "" || bytes.Contains(data, []byte(leak)) {
			t.Errorf("the audit log holds %q", leak)
		}
	}
}

// The typed client sends its token; without one a TCP listener answers
// 401 with the unauthorized code, which the CLI turns into a hint.
func TestClientSendsItsToken(t *testing.T) {
	t.Parallel()
	withTokens, _ := withAccess(t)
	_, h, _ := newTestServer(t, &fakeDeployer{}, withTokens)
	_, v, _ := h.opts.Tokens.Create("ci", endpoint.Viewer, 0, "test")
	srv := httptest.NewServer(h.Remote(RemoteOptions{Addr: listenerAddr}))
	defer srv.Close()
	c := NewClient(srv.URL)
	_, err := c.Status(context.Background())
	if e := apiErr(t, err); e.Status != 401 || e.Code != endpoint.CodeUnauthorized {
		t.Fatalf("without a token: %v", err)
	}
	if _, err := c.WithToken(v.Reveal()).Status(context.Background()); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	_, err = c.WithToken(v.Reveal()).Tokens(context.Background())
	if e := apiErr(t, err); e.Status != 403 || !strings.Contains(e.Message, "needs the admin role") {
		t.Fatalf("a viewer listing tokens: %v", err)
	}
}
