package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/secretstore"
	"github.com/tugdev/tug/internal/testkit"
)

const secretsYAML = `version: 1
project: vaulted
services:
  web:
    run: %s
    replicas: 2
    secrets: [DB_URL]
    health: {path: /healthz, interval: 100ms, timeout: 1s}
    routes: ["web.localhost"]
    deploy: {strategy: rolling, drain_timeout: 2s}
environments:
  staging: {}
`

// TestSecretSetRotateRollbackReveal is the secret store's story end to
// end, with the real proxy and processes: a value set through the API
// reaches the service; rotating it rolls the service onto the new value
// while clients keep getting answers (none fails); rolling back brings
// the old release back with its old value; revealing answers the value,
// and is an audited operation. No value is in the server's log, the
// state directory's files (but the encrypted store), or the releases.
func TestSecretSetRotateRollbackReveal(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	home := filepath.Join(dir, "home")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, fmt.Sprintf(secretsYAML, app))
	proxyAddr := testkit.FreeAddr(t)
	env := map[string]string{"XDG_CONFIG_HOME": home, "HOME": home}
	srv := startServer(t, Options{
		ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const v1, v2 = "postgres://app:first-Pa55@db/app", "postgres://app:second-Pa55@db/app"
	// A deploy before the secret exists is refused, naming it and where.
	_, err := c.Deploy(ctx, api.DeployRequest{Service: "web", Who: "ann"}, nil)
	if err == nil || !strings.Contains(err.Error(), "DB_URL") || !strings.Contains(err.Error(), `"staging"`) {
		t.Fatalf("deploy without the secret: %v", err)
	}
	if w, err := c.SetSecret(ctx, "DB_URL", secretstore.SetRequest{Environment: "staging", Value: v1, Who: "ann"}); err != nil || w.Secret.Version != 1 {
		t.Fatalf("set: %+v %v", w, err)
	}
	r1, err := c.Deploy(ctx, api.DeployRequest{Service: "web", Who: "ann"}, nil)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, srv.logs)
	}
	if got, err := getPath(ctx, proxyAddr, "web.localhost", "/env?k=DB_URL"); err != nil || got != v1 {
		t.Fatalf("the service got %q %v", got, err)
	}
	if r1.Secrets["DB_URL"] != (secret.Ref{Source: "store", Scope: "staging", Version: 1}) {
		t.Errorf("release %s records %+v", r1.ID, r1.Secrets)
	}

	// Rotate under load: every request is answered.
	var ok, bad atomic.Int64
	var lastErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 10 * time.Second}
	for range 4 {
		wg.Go(func() {
			for i := 0; i < 50000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+proxyAddr+"/", nil)
				req.Host = "web.localhost"
				resp, err := hc.Do(req)
				if err != nil {
					bad.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad.Add(1)
					lastErr.Store(resp.Status)
					continue
				}
				ok.Add(1)
			}
		})
	}
	testkit.Eventually(t, 0, "traffic to flow", func() bool { return ok.Load() > 20 })
	var phases []string
	res, err := c.RotateSecret(ctx, "DB_URL", secretstore.RotateRequestBody{Environment: "staging", Value: v2, Who: "bob"},
		func(e secretstore.Event) { phases = append(phases, e.Phase) })
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, srv.logs)
	}
	n := ok.Load()
	testkit.Eventually(t, 0, "traffic after the rotation", func() bool { return ok.Load() > n+20 })
	close(stop)
	wg.Wait()
	if len(res.Rolled) != 1 || res.Rolled[0].Outcome != secretstore.OutcomeLive || res.Written.Secret.Version != 2 || len(phases) == 0 {
		t.Fatalf("rotation: %+v, phases %v", res, phases)
	}
	t.Logf("%d requests answered during the rotation, %d failed", ok.Load(), bad.Load())
	if bad.Load() != 0 {
		t.Errorf("%d requests failed during the rotation (last: %v)", bad.Load(), lastErr.Load())
	}
	if got, err := getPath(ctx, proxyAddr, "web.localhost", "/env?k=DB_URL"); err != nil || got != v2 {
		t.Fatalf("after the rotation the service has %q %v", got, err)
	}
	rels, err := c.Releases(ctx, "web", "staging")
	if err != nil || rels[0].ID != res.Rolled[0].Release || rels[0].Who != "bob" || !strings.Contains(rels[0].Reason, "rotation of DB_URL to v2") || rels[0].Secrets["DB_URL"].Version != 2 {
		t.Fatalf("the rotation's release: %+v %v", rels, err)
	}

	// Rolling back gets the old release and its old value.
	back, err := c.Rollback(ctx, api.RollbackRequest{Service: "web", Who: "ann"}, nil)
	if err != nil || back.ID != r1.ID || back.Status != deploy.StatusLive {
		t.Fatalf("rollback: %+v %v", back, err)
	}
	if got, err := getPath(ctx, proxyAddr, "web.localhost", "/env?k=DB_URL"); err != nil || got != v1 {
		t.Fatalf("after the rollback the service has %q %v", got, err)
	}

	// Revealing answers the value and is an audited operation.
	r, err := c.RevealSecret(ctx, secretstore.RevealParams{Name: "DB_URL", Env: "staging", Who: "carol"})
	if err != nil || r.Value != v2 || r.Version != 2 || r.CreatedBy != "bob" {
		t.Fatalf("reveal: %+v %v", r, err)
	}
	for _, op := range secretstore.Ops(nil) {
		if op.Pattern() == "GET /api/secrets/{name}/value" && !op.Audited {
			t.Error("the reveal operation is not audited")
		}
	}
	if !strings.Contains(srv.logs.String(), "secret revealed") || !strings.Contains(srv.logs.String(), "by=carol") {
		t.Errorf("the reveal is not in the server's log")
	}
	if recs, err := c.Audit(ctx, audit.Params{}); err != nil || !slices.ContainsFunc(recs, func(r audit.Record) bool {
		return r.Action == "GET /api/secrets/{name}/value" && r.Target == "DB_URL" && r.Outcome == audit.OK && r.Source == "unix"
	}) {
		t.Errorf("the reveal is not in the audit log: %+v %v", recs, err)
	}

	// No value anywhere but in the encrypted store.
	for _, v := range []string{v1, v2} {
		if strings.Contains(srv.logs.String(), v) {
			t.Errorf("the server's log holds a value")
		}
	}
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".sock") || strings.Contains(p, string(filepath.Separator)+"releases"+string(filepath.Separator)) {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, v := range []string{v1, v2, "second-Pa55", "first-Pa55"} {
			if strings.Contains(string(b), v) {
				t.Errorf("%s holds a secret value", p)
			}
		}
		return nil
	})
}
