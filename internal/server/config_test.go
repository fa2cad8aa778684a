package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
)

func newSource(t *testing.T, path string) (*configSource, chan string, *[]*config.Config) {
	t.Helper()
	results := make(chan string, 16)
	var applied []*config.Config
	src := &configSource{
		path: path, lookupEnv: func(string) (string, bool) { return "", false }, now: time.Now,
		log:      slog.New(slog.DiscardHandler),
		counted:  func(r string) { results <- r },
		onChange: func(c *config.Config) error { applied = append(applied, c); return nil },
	}
	if err := src.init(); err != nil {
		t.Fatal(err)
	}
	return src, results, &applied
}

func TestApplyKeepsTheRunningConfigOnErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, minimalYAML)
	src, _, applied := newSource(t, path)
	old := src.Current()

	writeConfig(t, dir, "version: 1\nservices:\n  web: {replicas: many}\n")
	snap, changed, err := src.Apply(context.Background())
	if !errors.Is(err, config.ErrInvalid) || changed || snap.Hash != old.Hash || src.Current().Hash != old.Hash || len(*applied) != 0 {
		t.Fatalf("bad file: err=%v changed=%v", err, changed)
	}
	if !strings.Contains(err.Error(), "tug.yaml:3") {
		t.Fatalf("error is not positioned: %v", err)
	}

	_, changed, err = src.Apply(context.Background())
	if err == nil || changed {
		t.Fatal("second apply of the bad file changed something")
	}

	writeConfig(t, dir, strings.Replace(minimalYAML, "demo", "demo2", 1))
	snap, changed, err = src.Apply(context.Background())
	if err != nil || !changed || src.Current().Config.Project != "demo2" || len(*applied) != 1 || snap.Hash == old.Hash {
		t.Fatalf("good file: err=%v changed=%v project=%q", err, changed, src.Current().Config.Project)
	}
	_, changed, err = src.Apply(context.Background())
	if err != nil || changed || len(*applied) != 1 {
		t.Fatalf("unchanged file re-applied: %v %v", changed, err)
	}
}

func TestWatcherAppliesGoodFilesAndRefusesBadOnes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, minimalYAML)
	src, results, _ := newSource(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- watchConfig(ctx, src, 20*time.Millisecond, ready) }()
	<-ready

	wait := func(want string) {
		t.Helper()
		select {
		case got := <-results:
			if got != want {
				t.Fatalf("reload result %q, want %q", got, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no reload (want %q)", want)
		}
	}
	writeConfig(t, dir, "version: 1\nproject: [oops\n")
	wait("invalid")
	if src.Current().Config.Project != "demo" {
		t.Fatal("a bad file replaced the running config")
	}
	// Editors save by rename: that is seen too.
	tmp := path + ".swp"
	if err := os.WriteFile(tmp, []byte(strings.Replace(minimalYAML, "demo", "renamed", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wait("applied")
	if src.Current().Config.Project != "renamed" {
		t.Fatalf("project = %q", src.Current().Config.Project)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestProxyArgvFollowsTheConfig(t *testing.T) {
	t.Parallel()
	off := false
	cfg := &config.Config{Proxy: &config.Proxy{HTTPS: ":8443", TLS: &config.TLS{Cert: "certs/a.pem", Key: "/abs/k.pem"}, AccessLog: &off}}
	got := strings.Join(proxyArgv(Options{ProxyCommand: []string{"/bin/tug", "proxy"}, StateDir: "/s", ConfigPath: "/repo/tug.yaml"}, cfg, "127.0.0.1:8080", "172.17.0.1:8080"), " ")
	want := "/bin/tug proxy --state-dir /s --http 127.0.0.1:8080 --flags 172.17.0.1:8080 --https :8443 --tls-cert /repo/certs/a.pem --tls-key /abs/k.pem --access-log=false"
	if got != want {
		t.Fatalf("argv\n got %s\nwant %s", got, want)
	}
}

// TestApplyThatDoesNotTakeEffectIsAnError: a valid file the rooms do not
// all take (a refused routing push, alert rules that do not build) is an
// error for the caller, and the config in force stays, so applying again
// retries; a rule file the rule engine refuses is refused like a config
// error, positioned in the rule file.
func TestApplyThatDoesNotTakeEffectIsAnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, minimalYAML)
	src, _, _ := newSource(t, path)
	src.check = func(c *config.Config) (config.Errors, error) { return Check(context.Background(), c) }
	old := src.Current()
	refuse := errors.New("proxy refused the table")
	src.onChange = func(*config.Config) error { return refuse }
	writeConfig(t, dir, strings.Replace(minimalYAML, "demo", "demo2", 1))
	_, changed, err := src.Apply(context.Background())
	if !errors.Is(err, api.ErrNotApplied) || !errors.Is(err, refuse) || changed || src.Current().Hash != old.Hash {
		t.Fatalf("refused by a room: err=%v changed=%v", err, changed)
	}
	src.onChange = func(*config.Config) error { return nil }
	if _, changed, err := src.Apply(context.Background()); err != nil || !changed {
		t.Fatalf("retry: err=%v changed=%v", err, changed)
	}

	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: sum(x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, minimalYAML+"alert_files: [rules.yml]\n")
	_, _, err = src.Apply(context.Background())
	var list config.Errors
	if !errors.As(err, &list) || len(list) != 1 || list[0].File != filepath.Join(dir, "rules.yml") || list[0].Pos.Line != 5 {
		t.Fatalf("bad rule file: %#v", err)
	}
}
