package secretstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// fakeRollout records what it was asked to roll; services in running
// are live.
type fakeRollout struct {
	mu      sync.Mutex
	running map[string]bool // "service/env"
	rolled  []string
	whys    []string
}

func (f *fakeRollout) Roll(_ context.Context, service, env, who, why string, progress func(Event)) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running[service+"/"+env] {
		return "", false, nil
	}
	f.rolled = append(f.rolled, service+"/"+env+" by "+who)
	f.whys = append(f.whys, why)
	progress(Event{Service: service, Environment: env, Phase: "done", Message: "live"})
	return "r9", true, nil
}

func (f *fakeRollout) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rolled)
}

func testConfig(t *testing.T, yaml string) *config.Config {
	t.Helper()
	c, err := config.Parse("tug.yaml", []byte(yaml), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const serviceYAML = `version: 1
project: shop
services:
  web: {run: ./web, secrets: [DB_URL, SESSION_KEY]}
  worker: {run: ./worker, secrets: [DB_URL]}
  other: {run: ./other}
environments:
  staging: {}
  production: {}
secrets:
  max_age: 30d
  policies:
    SESSION_KEY: {rotate: 7d, length: 24, max_age: 10d}
`

func TestRotateRollsTheRunningServicesThatUseTheValue(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	cfg := testConfig(t, serviceYAML)
	ro := &fakeRollout{running: map[string]bool{"web/staging": true, "web/production": true, "worker/production": true}}
	svc := NewService(ServiceOptions{Store: s, Config: func() *config.Config { return cfg }, Rollout: ro})
	ctx := context.Background()
	if _, err := svc.Set(ctx, "DB_URL", "", secret.New("shared-1"), "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Set(ctx, "DB_URL", "staging", secret.New("staging-1"), "ann"); err != nil {
		t.Fatal(err)
	}
	// The shared value changes: every environment without its own value
	// (production) is rolled, the one with its own (staging) is not.
	var events []Event
	res, err := svc.Rotate(ctx, RotateRequest{Name: "DB_URL", Value: secret.New("shared-2"), Who: "bob"}, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if got := ro.got(); !slices.Equal(got, []string{"web/production by bob", "worker/production by bob"}) {
		t.Fatalf("rolled %v", got)
	}
	if len(res.Rolled) != 2 || res.Rolled[0].Outcome != OutcomeLive || len(events) != 2 || ro.whys[0] != "rotation of DB_URL to v2" {
		t.Fatalf("result %+v, events %v, why %v", res, events, ro.whys)
	}
	// Staging's own value: only staging; worker is not running there.
	ro.rolled = nil
	res, err = svc.Rotate(ctx, RotateRequest{Name: "DB_URL", Environment: "staging", Generate: true, Who: "bob"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ro.got(); !slices.Equal(got, []string{"web/staging by bob"}) || res.Rolled[1].Outcome != OutcomeNotRunning {
		t.Fatalf("rolled %v, result %+v", got, res.Rolled)
	}
	v, _, _, _ := s.Reveal(ctx, "DB_URL", "staging", 0)
	if len(v.Reveal()) != config.DefaultSecretLength || strings.Trim(v.Reveal(), alphabet) != "" {
		t.Fatalf("generated %d characters", len(v.Reveal()))
	}
	// Bad requests change nothing.
	for _, req := range []RotateRequest{
		{Name: "DB_URL"},
		{Name: "DB_URL", Generate: true, Value: secret.New("x")},
		{Name: "DB_URL", Generate: true, Length: 8},
		{Name: "DB_URL", Environment: "prod", Generate: true},
	} {
		if _, err := svc.Rotate(ctx, req, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", req, err)
		}
	}
}

func TestGeneratedSecretsAreMadeAndRotatedOnSchedule(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	cfg := testConfig(t, serviceYAML)
	ro := &fakeRollout{running: map[string]bool{"web/staging": true}}
	svc := NewService(ServiceOptions{Store: s, Config: func() *config.Config { return cfg }, Rollout: ro})
	auditDir := t.TempDir()
	log, err := audit.Open(auditDir, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := NewRotator(RotatorOptions{Service: svc, StateDir: t.TempDir(), Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := rot.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rot.GenerateMissing(ctx)
	v1, sec, _, err := s.Reveal(ctx, "SESSION_KEY", "", 0)
	if err != nil || len(v1.Reveal()) != 24 || sec.Version != 1 {
		t.Fatalf("generated: %d chars, %+v, %v", len(v1.Reveal()), sec, err)
	}
	rot.GenerateMissing(ctx) // already there: nothing new
	if _, sec, _, _ := s.Reveal(ctx, "SESSION_KEY", "", 0); sec.Version != 1 {
		t.Fatalf("generated again: v%d", sec.Version)
	}
	// A tick of the schedule rotates it and rolls its users.
	rot.rotate(ctx, "SESSION_KEY", "tug (scheduled rotation)", false)
	v2, sec, ver, _ := s.Reveal(ctx, "SESSION_KEY", "", 0)
	if sec.Version != 2 || v2.Reveal() == v1.Reveal() || ver.Origin != OriginGenerate || ver.CreatedBy != "tug (scheduled rotation)" {
		t.Fatalf("after a tick: %+v %+v", sec, ver)
	}
	if got := ro.got(); !slices.Equal(got, []string{"web/staging by tug (scheduled rotation)"}) {
		t.Fatalf("rolled %v", got)
	}
	// Both changes are in the audit log, tug's own, without a value, and
	// the chain verifies.
	recs, err := log.Query(ctx, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Actor+" "+r.Action+" "+r.Target+" "+r.Outcome+" "+r.Detail)
	}
	want := []string{
		"tug (generated) secret.generate SESSION_KEY ok version 1",
		"tug (scheduled rotation) secret.rotate SESSION_KEY ok version 2; web/staging live",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.Verify(auditDir); err != nil || !rep.OK() || rep.Records != 2 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	data, _ := os.ReadFile(filepath.Join(auditDir, audit.LogFile))
	for _, v := range []string{v1.Reveal(), v2.Reveal()} {
		if strings.Contains(string(data), v) {
			t.Fatalf("the audit log holds a secret value:\n%s", data)
		}
	}
}

func TestAgeCollectorExportsAgesAndMaxAges(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	cfg := testConfig(t, serviceYAML)
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	set(t, s, "DB_URL", "production", "v")
	set(t, s, "SESSION_KEY", "", "v")
	clock.Advance(40 * 24 * time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(&AgeCollector{Store: s, Config: func() *config.Config { return cfg }, Now: clock.Now})
	want := `
# HELP tug_secret_age_seconds How long ago the current value of a secret in the store was set.
# TYPE tug_secret_age_seconds gauge
tug_secret_age_seconds{environment="production",secret="DB_URL"} 3.456e+06
tug_secret_age_seconds{environment="",secret="SESSION_KEY"} 3.456e+06
# HELP tug_secret_max_age_seconds The max_age of a secret (secrets.max_age or its policy's); SecretTooOld fires above it.
# TYPE tug_secret_max_age_seconds gauge
tug_secret_max_age_seconds{environment="production",secret="DB_URL"} 2.592e+06
tug_secret_max_age_seconds{environment="",secret="SESSION_KEY"} 864000
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestWatchVaultRollsServicesOnAChangedValue(t *testing.T) {
	t.Parallel()
	f, srv := newFakeVault(t)
	f.put("shop/production", map[string]string{"DB_URL": "one", "OTHER": "x"})
	cfg := testConfig(t, serviceYAML)
	v, err := NewVault(VaultOptions{Config: &config.Secrets{Backend: "vault", Address: srv.URL, TokenSecret: "T", Refresh: config.Duration(10 * time.Millisecond)},
		Project: "shop", Local: localToken(map[string]string{"T": f.token})})
	if err != nil {
		t.Fatal(err)
	}
	ro := &fakeRollout{running: map[string]bool{"web/production": true, "worker/production": true}}
	svc := NewService(ServiceOptions{Config: func() *config.Config { return cfg }, Rollout: ro})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.WatchVault(ctx, func() *Vault { return v }); close(done) }()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, 0, "the watch to see the first version", func() bool { return f.metas.Load()+f.reads.Load() > 2 })
	f.put("shop/production", map[string]string{"DB_URL": "two", "OTHER": "x"})
	testkit.Eventually(t, 0, "the services using DB_URL to be rolled", func() bool { return len(ro.got()) == 2 })
	if got := ro.got(); got[0] != "web/production by vault" || !strings.Contains(ro.whys[0], "DB_URL changed in Vault (shop/production v2)") {
		t.Fatalf("rolled %v %v", got, ro.whys)
	}
}
