package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/store"
)

// withAccess serves a real token store and audit log, empty; dir is the
// audit log's.
func withAccess(t *testing.T) (opt func(*Options), dir string) {
	t.Helper()
	tokens, err := access.OpenTokens(filepath.Join(t.TempDir(), access.TokensFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	log, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return func(o *Options) {
		o.Tokens, o.Audit = tokens, log
		o.Security = func(context.Context) (doctor.Inputs, error) {
			return doctor.Inputs{Server: true, Tokens: tokens.List(), Listeners: []doctor.Listener{{Addr: "0.0.0.0:7070"}}}, nil
		}
	}, dir
}

// withRooms serves real alert, logs and metrics rooms, empty.
func withRooms(t *testing.T) func(*Options) {
	t.Helper()
	ctx := context.Background()
	cfg := mustConfig(t, testYAML)
	mon, err := metrics.New(metrics.Options{Dir: t.TempDir(), Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mon.Close() })
	eng, err := alert.New(ctx, alert.Options{Config: cfg, Queryable: mon.Storage(), Appendable: mon.Storage(), QueryEngine: mon.Engine()})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := logs.New(ctx, logs.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	withTokens, _ := withAccess(t)
	sec := testSecrets(t, cfg)
	st, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fl, err := flags.New(ctx, flags.Options{Store: st, Query: func(context.Context, string) (float64, error) { return 10, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := fl.SetConfig(ctx, mustConfig(t, testYAML+flagsTestYAML)); err != nil {
		t.Fatal(err)
	}
	inc, err := incident.New(ctx, incident.Options{Store: st, Config: func() *config.Config { return cfg }, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(inc.Close)
	return func(o *Options) {
		withTokens(o)
		o.Secrets = sec
		o.Flags = fl
		o.Alerts = func() *alert.Engine { return eng }
		o.Logs = lg
		o.Monitor = mon
		o.Incidents = func() *incident.Manager { return inc }
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("tug_up 1\n")) })
	}
}

// flagsTestYAML adds a flag to testYAML.
const flagsTestYAML = `flags:
  new-checkout:
    type: boolean
    variants: {on: true, off: false}
    default: off
`

// TestOpenAPIIsTheRouteTable: the document lists exactly the route
// table's operations, each with its role, schemas for its parameters,
// body and answers; and every answer of the running API (successes and
// errors alike, one request or more per operation) validates against
// the schema the document gives it.
func TestOpenAPIIsTheRouteTable(t *testing.T) {
	d := &fakeDeployer{
		rel:      &deploy.Release{ID: "r1", Service: "shop", Status: deploy.StatusLive},
		events:   []deploy.Event{{Release: "r1", Phase: "build", Message: "building"}},
		releases: []deploy.Release{{ID: "r1", Service: "shop", Status: deploy.StatusLive}},
		status:   []deploy.ServiceStatus{{Service: "shop", Environment: "staging", Live: []deploy.LivePool{{Release: "r1", Weight: 100}}}},
	}
	c, h, fc := newTestServer(t, d, withRooms(t))
	fc.next = func() (*config.Config, error) { return mustConfig(t, testYAML), nil }
	doc, err := c.OpenAPI(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(doc)
	paths := doc["paths"].(map[string]any)

	documented := 0
	for p, item := range paths {
		documented += len(item.(map[string]any))
		_ = p
	}
	if documented != len(h.Ops()) || len(h.Ops()) < 40 {
		t.Errorf("the document has %d operations, the route table %d", documented, len(h.Ops()))
	}
	for _, op := range h.Ops() {
		o, _ := paths[op.Path].(map[string]any)[strings.ToLower(op.Method)].(map[string]any)
		if o == nil {
			t.Errorf("%s is not documented", op.Pattern())
			continue
		}
		if o["x-tug-role"] != string(op.Role) {
			t.Errorf("%s: x-tug-role %v, want %s", op.Pattern(), o["x-tug-role"], op.Role)
		}
		if op.Body != nil && o["requestBody"] == nil {
			t.Errorf("%s: its body is not documented", op.Pattern())
		}
		if n := len(op.Parameters()); n > 0 && len(o["parameters"].([]any)) != n {
			t.Errorf("%s: %d parameters documented, %d declared", op.Pattern(), len(o["parameters"].([]any)), n)
		}
		ok := o["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)[op.Media].(map[string]any)
		if s, _ := ok["schema"].(map[string]any); len(s) == 0 {
			t.Errorf("%s: no schema for its answer", op.Pattern())
		}
	}

	comp := jsonschema.NewCompiler()
	docJSON, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := comp.AddResource("openapi.json", docJSON); err != nil {
		t.Fatal(err)
	}
	schemaFor := func(op *endpoint.Op, status int) *jsonschema.Schema {
		esc := strings.NewReplacer("~", "~0", "/", "~1")
		loc := "openapi.json#/paths/" + esc.Replace(op.Path) + "/" + strings.ToLower(op.Method) + "/responses/"
		if status == 200 {
			loc += "200/content/" + esc.Replace(op.Media) + "/schema"
		} else {
			loc += "default/content/application~1json/schema"
		}
		s, err := comp.Compile(loc)
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		return s
	}

	seen := map[string]bool{}
	check := func(method, target, body string) {
		t.Helper()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", endpoint.MediaJSON)
		}
		op := h.router.Match(req)
		if op == nil {
			t.Fatalf("%s %s matches no operation", method, target)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		seen[op.Pattern()] = true
		if op.Media != endpoint.MediaJSON && !op.Stream && rec.Code == 200 {
			return // text
		}
		s := schemaFor(op, rec.Code)
		values := [][]byte{rec.Body.Bytes()}
		if op.Stream && rec.Code == 200 {
			values = nil
			sc := bufio.NewScanner(rec.Body)
			for sc.Scan() {
				values = append(values, append([]byte(nil), sc.Bytes()...))
			}
		}
		for _, v := range values {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
			if err != nil {
				t.Errorf("%s %s: %d %s: not JSON", method, target, rec.Code, v)
				continue
			}
			if err := s.Validate(inst); err != nil {
				t.Errorf("%s %s: answer %d does not match its documented schema: %v\n%s", method, target, rec.Code, err, v)
			}
		}
	}
	now := "1700000000"
	for _, r := range []struct{ method, target, body string }{
		{"GET", "/api/health", ""},
		{"GET", "/api/status", ""},
		{"POST", "/api/deploys", `{"service":"shop"}`},
		{"POST", "/api/deploys", `{"service":"nope"}`},
		{"POST", "/api/rollbacks", `{"service":"shop","environment":"production"}`},
		{"GET", "/api/releases?service=shop", ""},
		{"GET", "/api/releases", ""},
		{"POST", "/api/releases/r1/approve", ""},
		{"POST", "/api/releases/r1/reject", `{"who":"ann"}`},
		{"POST", "/api/down", `{"environment":"staging"}`},
		{"POST", "/api/down", `{"environment":"nope"}`},
		{"POST", "/api/apply", ""},
		{"GET", "/api/config", ""},
		{"GET", "/api/openapi.json", ""},
		{"GET", "/metrics", ""},
		{"GET", "/api/alerts", ""},
		{"POST", "/api/alerts/0000/ack", `{"by":"ann"}`},
		{"GET", "/api/alerts/history?limit=5", ""},
		{"GET", "/api/silences", ""},
		{"POST", "/api/silences", `{"matchers":"alertname=X","duration":"1h","created_by":"ann"}`},
		{"POST", "/api/silences", `{"matchers":"alertname=~(","duration":"1h"}`},
		{"DELETE", "/api/silences/nope", ""},
		{"GET", "/api/slo", ""},
		{"GET", "/api/logs?service=tug", ""},
		{"GET", "/api/logs", ""},
		{"GET", "/api/v1/query?query=1%2B1&time=" + now, ""},
		{"POST", "/api/v1/query?query=vector(1)&time=" + now, ""},
		{"GET", "/api/v1/query?query=sum(", ""},
		{"GET", "/api/v1/query_range?query=vector(1)&start=" + now + "&end=" + now + "&step=15", ""},
		{"POST", "/api/v1/query_range?query=vector(1)&start=" + now + "&end=" + now + "&step=15", ""},
		{"GET", "/api/v1/format_query?query=sum(x)", ""},
		{"POST", "/api/v1/format_query?query=sum(x)", ""},
		{"GET", "/api/v1/series?match[]=up", ""},
		{"POST", "/api/v1/series?match[]=up", ""},
		{"GET", "/api/v1/labels", ""},
		{"POST", "/api/v1/labels", ""},
		{"GET", "/api/v1/label/job/values", ""},
		{"GET", "/api/v1/metadata", ""},
		{"GET", "/api/v1/rules", ""},
		{"GET", "/api/v1/alerts", ""},
		{"GET", "/api/v1/targets", ""},
		{"GET", "/api/v1/query_exemplars?query=up", ""},
		{"POST", "/api/v1/query_exemplars?query=up", ""},
		{"GET", "/api/v1/status/buildinfo", ""},
		{"GET", "/api/v1/status/runtimeinfo", ""},
		{"GET", "/api/v1/status/config", ""},
		{"GET", "/api/v1/status/flags", ""},
		{"GET", "/api/v1/status/tsdb", ""},
		{"POST", "/api/tokens", `{"name":"ci","role":"viewer","expires":"30d"}`},
		{"POST", "/api/tokens", `{"name":"ci","role":"root"}`},
		{"GET", "/api/tokens", ""},
		{"DELETE", "/api/tokens/ci", ""},
		{"DELETE", "/api/tokens/nope", ""},
		{"GET", "/api/audit?limit=5&actor=local", ""},
		{"GET", "/api/audit?since=bogus", ""},
		{"GET", "/api/audit/verify", ""},
		{"GET", "/api/doctor/security", ""},
		{"GET", "/api/secrets/key", ""},
		{"PUT", "/api/secrets/TOKEN", `{"value":"tok-value-1","who":"ann"}`},
		{"PUT", "/api/secrets/bad-name", `{"value":"x"}`},
		{"GET", "/api/secrets", ""},
		{"GET", "/api/secrets?env=nope", ""},
		{"GET", "/api/secrets/TOKEN/value?who=ann", ""},
		{"GET", "/api/secrets/NOPE/value", ""},
		{"POST", "/api/secrets/import", `{"values":{"A":"aaa-value"}}`},
		{"POST", "/api/secrets/TOKEN/rotate", `{"generate":true,"who":"ann"}`},
		{"POST", "/api/secrets/TOKEN/rotate", `{}`},
		{"POST", "/api/secrets/prune", `{"keep":1}`},
		{"DELETE", "/api/secrets/TOKEN?who=ann", ""},
		{"DELETE", "/api/secrets/TOKEN", ""},
		{"GET", "/api/flags", ""},
		{"GET", "/api/flags?env=nope", ""},
		{"POST", "/api/flags/new-checkout/set", `{"environment":"production","rollout":25,"who":"ann"}`},
		{"POST", "/api/flags/new-chekout/set", `{"environment":"production","variant":"on"}`},
		{"POST", "/api/flags/new-checkout/kill", `{"who":"ann"}`},
		{"POST", "/api/flags/new-checkout/reset", ""},
		{"GET", "/api/flags/history?service=shop&since=1h", ""},
		{"GET", "/api/flags/new-checkout/report?env=production&metric=sum(x%7Bvariant%3D%22$VARIANT%22%7D)", ""},
		{"GET", "/api/flags/new-checkout/report?metric=sum(x)", ""},
		{"POST", "/api/runs", `{"pipeline":"ci"}`},
		{"GET", "/api/runs?limit=5", ""},
		{"GET", "/api/runs/1", ""},
		{"GET", "/api/runs/1/logs?follow=true", ""},
		{"POST", "/api/runs/1/cancel", ""},
		{"POST", "/api/push", `{"repository":"/srv/git/shop.git","refs":[{"ref":"refs/heads/main","new":"` + strings.Repeat("a", 40) + `"}]}`},
		{"POST", "/hooks/github", `{}`},
		{"POST", "/hooks/gitlab", `{}`},
		{"POST", "/hooks/gitea", `{}`},
		{"POST", "/api/incidents", `{"title":"checkout fails","severity":"P1","service":"shop","by":"ann"}`},
		{"POST", "/api/incidents", `{"title":"","severity":"P1"}`},
		{"GET", "/api/incidents?state=open", ""},
		{"GET", "/api/incidents?state=nope", ""},
		{"GET", "/api/incidents/1", ""},
		{"GET", "/api/incidents/99", ""},
		{"POST", "/api/incidents/1/ack", `{"by":"ann","impact":"checkout fails"}`},
		{"POST", "/api/incidents/1/ack-link?token=bad", ""},
		{"GET", "/api/incidents/1/ack-link?token=bad", ""},
		{"POST", "/api/incidents/1/notes", `{"by":"ann","text":"we are on it","public":true}`},
		{"POST", "/api/incidents/1/mitigate", ""},
		{"POST", "/api/incidents/1/resolve", `{"by":"ann"}`},
		{"GET", "/api/incidents/1/postmortem", ""},
		{"POST", "/api/incidents/1/close", ""},
		{"POST", "/api/incidents/1/close", ""},
		{"GET", "/api/runbooks", ""},
		{"GET", "/api/runbooks/high-error-rate", ""},
		{"GET", "/api/runbooks/nope", ""},
		{"POST", "/api/runbooks/high-error-rate/runs", `{"service":"shop","by":"ann"}`},
		{"POST", "/api/runbook-runs/1/steps/2", ""},
		{"POST", "/api/runbook-runs/1/steps/1", `{"skip":true}`},
		{"GET", "/api/runbook-runs/1", ""},
		{"GET", "/api/oncall", ""},
		{"POST", "/api/backups/db/run", ""},
	} {
		check(r.method, r.target, r.body)
	}
	for _, op := range h.Ops() {
		if !seen[op.Pattern()] {
			t.Errorf("%s: no request of this test checks its answer", op.Pattern())
		}
	}
}

// TestRolesOfTheRouteTable fixes who may call what, for the access work
// to enforce: reads are the viewer's, changes to what runs the
// deployer's, changes to how tug behaves the admin's.
func TestRolesOfTheRouteTable(t *testing.T) {
	_, h, _ := newTestServer(t, &fakeDeployer{})
	want := map[string]endpoint.Role{
		"POST /api/deploys":                        endpoint.Deployer,
		"POST /api/rollbacks":                      endpoint.Deployer,
		"POST /api/releases/{id}/approve":          endpoint.Deployer,
		"POST /api/releases/{id}/reject":           endpoint.Deployer,
		"POST /api/alerts/{id}/ack":                endpoint.Deployer,
		"POST /api/down":                           endpoint.Deployer,
		"POST /api/flags/{name}/set":               endpoint.Deployer,
		"POST /api/flags/{name}/kill":              endpoint.Deployer,
		"POST /api/flags/{name}/reset":             endpoint.Deployer,
		"POST /api/apply":                          endpoint.Admin,
		"POST /api/silences":                       endpoint.Admin,
		"DELETE /api/silences/{id}":                endpoint.Admin,
		"GET /api/config":                          endpoint.Viewer,
		"GET /api/logs":                            endpoint.Viewer,
		"POST /api/v1/query":                       endpoint.Viewer, // a long query as a form: a read
		"POST /api/tokens":                         endpoint.Admin,
		"GET /api/tokens":                          endpoint.Admin, // who holds which credential
		"DELETE /api/tokens/{name}":                endpoint.Admin,
		"GET /api/audit":                           endpoint.Admin, // who did what, from where
		"GET /api/audit/verify":                    endpoint.Admin,
		"GET /api/doctor/security":                 endpoint.Admin, // where the installation is exposed
		"GET /api/secrets":                         endpoint.Admin, // names are the admin's too
		"GET /api/secrets/{name}/value":            endpoint.Admin,
		"PUT /api/secrets/{name}":                  endpoint.Admin,
		"DELETE /api/secrets/{name}":               endpoint.Admin,
		"POST /api/secrets/import":                 endpoint.Admin,
		"POST /api/secrets/{name}/rotate":          endpoint.Admin,
		"POST /api/secrets/prune":                  endpoint.Admin,
		"POST /api/runs":                           endpoint.Deployer,
		"POST /api/runs/{id}/cancel":               endpoint.Deployer,
		"POST /api/push":                           endpoint.Deployer,
		"POST /hooks/github":                       endpoint.Deployer, // signed by the forge, not a token
		"POST /hooks/gitlab":                       endpoint.Deployer,
		"POST /hooks/gitea":                        endpoint.Deployer,
		"POST /api/incidents":                      endpoint.Deployer,
		"POST /api/incidents/{id}/ack":             endpoint.Deployer,
		"POST /api/incidents/{id}/ack-link":        endpoint.Deployer,
		"GET /api/incidents/{id}/ack-link":         endpoint.Viewer,
		"POST /api/incidents/{id}/mitigate":        endpoint.Deployer,
		"POST /api/incidents/{id}/resolve":         endpoint.Deployer,
		"POST /api/incidents/{id}/notes":           endpoint.Deployer,
		"POST /api/incidents/{id}/close":           endpoint.Deployer,
		"POST /api/runbooks/{name}/runs":           endpoint.Deployer,
		"POST /api/runbook-runs/{id}/steps/{step}": endpoint.Deployer,
		"POST /api/backups/{name}/run":             endpoint.Deployer,
	}
	for _, op := range h.Ops() {
		role, listed := want[op.Pattern()]
		switch {
		case listed && op.Role != role:
			t.Errorf("%s: role %s, want %s", op.Pattern(), op.Role, role)
		case !listed && op.Mutates():
			t.Errorf("%s changes state but is not in this test's list of roles", op.Pattern())
		case !listed && op.Role != endpoint.Viewer:
			t.Errorf("%s reads, yet needs %s", op.Pattern(), op.Role)
		}
	}
	var mutating []string
	for _, op := range h.Ops() {
		if op.Mutates() {
			mutating = append(mutating, op.Pattern())
		}
	}
	slices.Sort(mutating)
	if len(mutating) != 35 {
		t.Errorf("changes: %v", mutating)
	}
}
