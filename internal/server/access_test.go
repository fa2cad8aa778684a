package server

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secretstore"
	"github.com/tugdev/tug/internal/testkit"
)

// TestTCPAPINeedsATokenAndEveryChangeIsAudited runs a server with a TCP
// listener and no --insecure-no-auth: it starts, refuses requests without
// a token (401) and a viewer's change (403), serves a token made through
// the unix socket, and the audit log names each actor: the socket's peer
// by its uid, the token, an unknown caller, and tug itself for a config
// changed on disk. The chain verifies, and the tokens file holds no token.
func TestTCPAPINeedsATokenAndEveryChangeIsAudited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, minimalYAML)
	srv := startServer(t, Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t),
		ListenAddr: "127.0.0.1:0", Debounce: 20 * time.Millisecond})
	if strings.Contains(srv.logs.String(), "NO AUTHENTICATION") {
		t.Fatalf("a listener with tokens is logged as unauthenticated:\n%s", srv.logs)
	}
	ctx := context.Background()
	sock, tcp := api.NewClient(srv.info.Socket), api.NewClient("http://"+srv.info.Listen)

	var e *endpoint.Error
	if _, err := tcp.Status(ctx); !errors.As(err, &e) || e.Status != 401 {
		t.Fatalf("no token: %v", err)
	}
	created, err := sock.CreateToken(ctx, access.CreateRequest{Name: "ci", Role: endpoint.Viewer, Expires: "30d"})
	if err != nil {
		t.Fatal(err)
	}
	viewer := tcp.WithToken(created.Value)
	if _, err := viewer.Status(ctx); err != nil {
		t.Fatalf("the viewer's token: %v", err)
	}
	if _, err := viewer.Apply(ctx); !errors.As(err, &e) || e.Status != 403 {
		t.Fatalf("a viewer applying the config: %v", err)
	}
	data, _ := os.ReadFile(filepath.Join(state, access.TokensFile))
	if len(data) == 0 || strings.Contains(string(data), created.Value[13:]) {
		t.Fatalf("tokens file: %s", data)
	}
	// A config changed on disk is applied by the server itself.
	writeConfig(t, dir, minimalYAML+"# edited\n")
	var recs []audit.Record
	testkit.Eventually(t, 10*time.Second, "the config apply recorded", func() bool {
		recs, err = sock.Audit(ctx, audit.Params{})
		return err == nil && slices.ContainsFunc(recs, func(r audit.Record) bool { return r.Action == "config.apply" })
	})

	me := "uid " + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		me = u.Username + " (" + me + ")"
	}
	for _, want := range []audit.Record{
		{Actor: "unknown", Action: "GET /api/status", Outcome: audit.Denied},
		{Actor: me, Action: "POST /api/tokens", Target: "ci", Source: "unix", Outcome: audit.OK},
		{Actor: "token:ci", Action: "POST /api/apply", Outcome: audit.Denied},
		{Actor: "tug", Action: "config.apply", Target: cfgPath + "@", Outcome: audit.OK},
	} {
		if !slices.ContainsFunc(recs, func(r audit.Record) bool {
			return r.Actor == want.Actor && r.Action == want.Action && strings.HasPrefix(r.Target, want.Target) &&
				r.Outcome == want.Outcome && (want.Source == "" || r.Source == want.Source)
		}) {
			t.Errorf("no record like %+v in %+v", want, recs)
		}
	}
	rep, err := sock.VerifyAudit(ctx)
	if err != nil || !rep.OK() || rep.Records != len(recs) {
		srv.stop(t)
		t.Fatalf("verify: %+v %v", rep, err)
	}
	// The log outlives the server: a restart goes on with the chain.
	srv.stop(t)
	srv = startServer(t, Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t)})
	api.NewClient(srv.info.Socket).Apply(ctx)
	srv.stop(t)
	if rep, err := audit.Verify(filepath.Join(state, AuditDir)); err != nil || !rep.OK() || rep.Records != len(recs)+1 {
		t.Fatalf("after a restart: %+v %v", rep, err)
	}
}

// listeningRuntime is a runtime whose instances listen where at says.
type listeningRuntime struct {
	runtime.Runtime
	insts []runtime.Instance
	at    map[string][]netip.AddrPort
}

func (f *listeningRuntime) List(context.Context) ([]runtime.Instance, error) { return f.insts, nil }

func (f *listeningRuntime) Listening(_ context.Context, in runtime.Instance) ([]netip.AddrPort, error) {
	return f.at[in.ID], nil
}

// The server's security checks see every running instance's sockets as
// its runtime reads them, its TCP listener, its tokens and its files.
func TestSecurityInputsOfTheServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	os.Mkdir(state, 0o700)
	cfgPath := writeConfig(t, dir, minimalYAML)
	tokens, _ := access.OpenTokens(filepath.Join(state, access.TokensFile), nil)
	tokens.Create("root", endpoint.Admin, 0, "test")
	src := &configSource{path: cfgPath, now: time.Now}
	if err := src.init(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{o: Options{ConfigPath: cfgPath, StateDir: state, Now: time.Now, InsecureNoAuth: true}, src: src, tokens: tokens, log: slog.New(slog.DiscardHandler),
		info: Info{Listen: "127.0.0.1:7070"}}
	running := func(id string) runtime.Instance {
		return runtime.Instance{ID: id, Service: "web", State: runtime.Running, Addr: "127.0.0.1:4100"}
	}
	rts := map[string]runtime.Runtime{
		"process": &listeningRuntime{
			insts: []runtime.Instance{running("web-staging-r1-1"), running("web-staging-r1-2"), {ID: "web-staging-r0-1", State: runtime.Exited}},
			at: map[string][]netip.AddrPort{
				"web-staging-r1-1": {netip.MustParseAddrPort("0.0.0.0:4100")},
				"web-staging-r1-2": {netip.MustParseAddrPort("127.0.0.1:4101")},
			},
		},
		"docker": &struct{ runtime.Runtime }{&listeningRuntime{insts: []runtime.Instance{running("api-staging-r1-1")}}},
	}
	d.rts.Store(&rts)
	in, err := d.securityInputs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rep := doctor.Security(in)
	want := map[string]doctor.Severity{
		"web-staging-r1-1": doctor.High,   // all addresses
		"api-staging-r1-1": doctor.Info,   // its runtime cannot say
		"127.0.0.1:7070":   doctor.Medium, // --insecure-no-auth on loopback
		"token root":       doctor.Medium, // an admin token that never expires
		"service web":      doctor.Low,    // no health path
	}
	for subject, sev := range want {
		if !slices.ContainsFunc(rep.Findings, func(f doctor.Finding) bool { return f.Subject == subject && f.Severity == sev }) {
			t.Errorf("no %s finding about %s in %+v", sev, subject, rep.Findings)
		}
	}
	for _, f := range rep.Findings {
		if f.Subject == "web-staging-r1-2" || f.Subject == "web-staging-r0-1" {
			t.Errorf("a finding about a loopback or stopped instance: %+v", f)
		}
	}
}

// No audit record holds a secret value, plain or encoded: not when a
// request's error echoes it, not when it is named as a target, not when
// it is sent as a token. The server masks the values of the secrets its
// config names in every record.
func TestAuditRecordsHoldNoSecret(t *testing.T) {
	t.Parallel()
	const value = "hunter2/db+pass&word-more"
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	lookup := func(k string) (string, bool) {
		if k == "DB_PASSWORD" {
			return value, true
		}
		return "", false
	}
	cfg := "version: 1\nproject: demo\nservices:\n  web: {run: ./web, routes: [web.localhost], secrets: [DB_PASSWORD]}\nenvironments:\n  staging: {}\n"
	srv := startServer(t, Options{ConfigPath: writeConfig(t, dir, cfg), StateDir: state, ProxyCommand: fakeProxyArgv(t),
		ListenAddr: "127.0.0.1:0", LookupEnv: lookup})
	ctx := context.Background()
	sock := api.NewClient(srv.info.Socket)
	sock.AddSilence(ctx, alert.SilenceRequest{Matchers: value, Duration: "1h"})                                 // the error echoes it
	sock.Deploy(ctx, api.DeployRequest{Service: value}, func(deploy.Event) {})                                  // the target names it
	api.NewClient("http://" + srv.info.Listen).WithToken(value).Status(ctx)                                     // sent as a token
	api.NewClient("http://" + srv.info.Listen).WithToken("tug_aaaaaaaa_" + strings.Repeat("x", 43)).Status(ctx) // a token's shape
	recs, err := sock.Audit(ctx, audit.Params{})
	srv.stop(t)
	if err != nil || len(recs) < 4 {
		t.Fatalf("records: %d %v", len(recs), err)
	}
	if !slices.ContainsFunc(recs, func(r audit.Record) bool { return strings.Contains(r.Detail, "***") }) {
		t.Errorf("the echoed value was not masked: %+v", recs)
	}
	data, err := os.ReadFile(filepath.Join(state, AuditDir, audit.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{value, "hunter2", base64.StdEncoding.EncodeToString([]byte(value)), url.QueryEscape(value),
		url.PathEscape(value), strings.ReplaceAll(value, "&", `\u0026`), strings.Repeat("x", 43)} {
		if strings.Contains(string(data), leak) {
			t.Errorf("the audit log holds %q:\n%s", leak, data)
		}
	}
}

// Backups' changes reach the audit log: a scheduled one as tug's own, one
// an API call made as that call's target (the call's own record says who).
func TestBackupChangesAreAudited(t *testing.T) {
	t.Parallel()
	log, err := audit.Open(t.TempDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	rec := auditedBackups{log, slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	rec.Record(ctx, backup.Event{Action: "backup.run", Backup: "db", Snapshot: "abc123", Outcome: "ok"})
	rec.Record(ctx, backup.Event{Action: "backup.prune", Backup: "db", Outcome: "failed", Error: "restic: locked"})
	callCtx, call := audit.StartCall(ctx, audit.Record{Actor: "token:ops", Action: "POST /api/backups/{name}/run"}, log.Record)
	rec.Record(callCtx, backup.Event{Action: "backup.run", Backup: "db", Snapshot: "def456", Outcome: "ok"})
	call.Finish(callCtx, audit.OK, "")
	recs, _ := log.Query(ctx, audit.Filter{})
	if len(recs) != 3 || recs[0].Actor != "tug" || recs[0].Target != "db abc123" || recs[1].Outcome != audit.Failed ||
		recs[1].Detail != "restic: locked" || recs[2].Actor != "token:ops" || recs[2].Target != "db def456" {
		t.Fatalf("%+v", recs)
	}
}

// Changes tug makes without an API call reach the audit log as its own:
// a generated secret (the start's), a flag ramp's first step (applied
// with the config at start, before anything serves), an automatic
// remediation. The chain verifies, and no record holds the value.
func TestChangesWithoutAnAPICallAreAudited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	home := filepath.Join(dir, "home")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, minimalYAML+`secrets:
  policies:
    SESSION_KEY: {rotate: 7d}
flags:
  theme:
    type: string
    variants: {light: light, dark: dark}
    default: light
    services: [web]
    environments:
      staging:
        ramp: {variant: dark, steps: [{weight: 10, pause: 1h}, {weight: 100}]}
`)
	env := map[string]string{"XDG_CONFIG_HOME": home, "HOME": home}
	srv := startServer(t, Options{ConfigPath: cfgPath, StateDir: state, ProxyCommand: fakeProxyArgv(t),
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	ctx := context.Background()
	sock := api.NewClient(srv.info.Socket)
	var recs []audit.Record
	has := func(actor, action, target string) bool {
		return slices.ContainsFunc(recs, func(r audit.Record) bool {
			return r.Actor == actor && r.Action == action && r.Target == target && r.Outcome == audit.OK
		})
	}
	testkit.Eventually(t, 10*time.Second, "the generated secret recorded", func() bool {
		var err error
		recs, err = sock.Audit(ctx, audit.Params{})
		return err == nil && has("tug (generated)", "secret.generate", "SESSION_KEY")
	})
	if !has("tug", "flag.ramp", "theme/staging") {
		t.Errorf("the ramp's start is not in the audit log: %+v", recs)
	}
	value, err := sock.RevealSecret(ctx, secretstore.RevealParams{Name: "SESSION_KEY"})
	if err != nil || value.Value == "" {
		t.Fatalf("reveal: %+v %v", value, err)
	}
	rep, err := sock.VerifyAudit(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	srv.stop(t)
	data, _ := os.ReadFile(filepath.Join(state, AuditDir, audit.LogFile))
	if strings.Contains(string(data), value.Value) {
		t.Fatalf("the audit log holds the generated value:\n%s", data)
	}
}

// The incident room's automatic actions are tug's own records, a failed
// one as failed.
func TestRemediationsAreAudited(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log, err := audit.Open(dir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := auditedActions{log}
	ctx := context.Background()
	rec.Record(ctx, incident.ActionRecord{Who: incident.Tug, Action: "rollback", Service: "web", Environment: "production", Incident: 7, Outcome: "done", Detail: "rolled back to r3"})
	rec.Record(ctx, incident.ActionRecord{Who: incident.Tug, Action: "restart", Service: "api", Incident: 8, Outcome: "failed", Detail: "restart failed: no instance"})
	recs, _ := log.Query(ctx, audit.Filter{})
	if len(recs) != 2 || recs[0].Actor != "tug" || recs[0].Action != "incident.remediate" || recs[0].Target != "web/production" ||
		recs[0].Outcome != audit.OK || recs[0].Detail != "incident 7: rollback done: rolled back to r3" ||
		recs[1].Target != "api" || recs[1].Outcome != audit.Failed {
		t.Fatalf("%+v", recs)
	}
	log.Close()
	if rep, err := audit.Verify(dir); err != nil || !rep.OK() || rep.Records != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
