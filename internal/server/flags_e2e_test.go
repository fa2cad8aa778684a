package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/testkit"
	"github.com/tugdev/tug/pkg/tugflags"
)

const flagsE2EYAML = `version: 1
project: flags
services:
  web:
    run: %[1]s
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["web.localhost"]
    deploy: {strategy: rolling, drain_timeout: 1s}
environments:
  production: {}
flags:
  new-checkout:
    type: boolean
    variants: {on: true, off: false}
    default: off
    rules:
      - {if: 'ctx.plan == "pro"', variant: on}
    env: FEATURE_NEW_CHECKOUT
  theme:
    type: string
    variants: {light: light, dark: dark}
    default: dark
  banner:
    type: object
    variants: {big: {size: 3, text: hello}}
    default: big
`

// TestEndToEndFlags runs tug with its real proxy and a deployed service:
// the service finds TUG_FLAGS_URL and TUG_FLAGS_KEY in its environment,
// the official OpenFeature SDK with tug's provider evaluates boolean,
// string and object flags through them and sees a kill switch within a
// second; a flag injected as a variable rolls the service when it
// changes; with the server stopped the proxy still answers with the last
// flag set, and the next server keeps the override.
func TestEndToEndFlags(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, fmt.Sprintf(flagsE2EYAML, app))
	proxyAddr := testkit.FreeAddr(t)
	opts := Options{ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr, ProxyCommand: []string{tug, "proxy"}}
	srv := startServer(t, opts)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			srv.stop(t)
		}
	})
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.Deploy(ctx, api.DeployRequest{Service: "web", Who: "e2e"}, nil); err != nil {
		t.Fatalf("deploy: %v\nlogs:\n%s", err, srv.logs)
	}
	env := func(k string) string {
		t.Helper()
		v, err := getPath(ctx, proxyAddr, "web.localhost", "/env?k="+k)
		if err != nil {
			t.Fatalf("the service's %s: %v", k, err)
		}
		return v
	}
	url, key := env("TUG_FLAGS_URL"), env("TUG_FLAGS_KEY")
	if url != "http://"+proxyAddr+"/_tug/flags/production" || !strings.HasPrefix(key, "tugf_") {
		t.Fatalf("the service's flag settings: %q %q", url, key)
	}
	if v := env("FEATURE_NEW_CHECKOUT"); v != "false" {
		t.Fatalf("FEATURE_NEW_CHECKOUT = %q", v)
	}

	// The app's side: the official SDK with tug's provider, configured
	// from the service's own environment.
	sdk := isolated.NewAPI()
	if err := sdk.SetProviderAndWait(ctx, tugflags.New(tugflags.Options{URL: url, Key: key, PollInterval: 100 * time.Millisecond})); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdk.Shutdown(context.Background()) })
	client := sdk.NewClient()
	pro := of.NewEvaluationContext("user-7", map[string]any{"plan": "pro"})
	if d, err := client.BooleanValueDetails(ctx, "new-checkout", false, pro); err != nil || !d.Value || d.Reason != of.TargetingMatchReason {
		t.Fatalf("boolean: %+v %v", d, err)
	}
	if s, err := client.StringValue(ctx, "theme", "light", pro); err != nil || s != "dark" {
		t.Fatalf("string: %q %v", s, err)
	}
	if o, err := client.ObjectValue(ctx, "banner", nil, pro); err != nil || o.(map[string]any)["text"] != "hello" {
		t.Fatalf("object: %v %v", o, err)
	}

	killed := time.Now()
	if _, err := c.KillFlag(ctx, "new-checkout", "", "e2e"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the SDK to see the kill switch within a second", func() bool {
		d, err := client.BooleanValueDetails(ctx, "new-checkout", true, pro)
		return err == nil && !d.Value && d.Reason == of.DisabledReason
	})
	t.Logf("kill switch seen by the app after %v", time.Since(killed).Round(time.Millisecond))

	// The variable is the slower path: the service rolls to get it.
	if _, err := c.SetFlag(ctx, "new-checkout", flags.SetRequest{Environment: "production", Variant: "on", Who: "e2e"}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Minute, "the service to roll with FEATURE_NEW_CHECKOUT=true", func() bool {
		v, err := getPath(ctx, proxyAddr, "web.localhost", "/env?k=FEATURE_NEW_CHECKOUT")
		return err == nil && v == "true"
	})
	hist, err := c.FlagHistory(ctx, flags.HistoryParams{Service: "web"})
	if err != nil || len(hist.Changes) != 2 || hist.Changes[0].Kind != "kill" || hist.Changes[1].Kind != "set" || hist.Changes[1].Who != "e2e" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if _, err := c.KillFlag(ctx, "new-checkout", "production", "e2e"); err != nil {
		t.Fatal(err)
	}

	// The key is the service's alone: no log, table file or API answer
	// of tug's holds it.
	cfgAnswer, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Flags(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	table, _ := os.ReadFile(filepath.Join(state, "proxy", "table.json"))
	for what, text := range map[string]string{
		"the server's log": srv.logs.String(), "the proxy's table file": string(table),
		"the config answer": fmt.Sprint(cfgAnswer), "the flags answer": fmt.Sprint(list),
		"the proxy's log": tail(filepath.Join(state, "proxy", "proxy.log"), 1000),
	} {
		if strings.Contains(text, key) {
			t.Errorf("%s holds the client key", what)
		}
	}

	// No server: the proxy answers with the last flag set.
	srv.stop(t)
	stopped = true
	after := isolated.NewAPI()
	if err := after.SetProviderAndWait(ctx, tugflags.New(tugflags.Options{URL: url, Key: key})); err != nil {
		t.Fatalf("a provider started while the server is down: %v", err)
	}
	t.Cleanup(func() { after.Shutdown(context.Background()) })
	if d, err := after.NewClient().BooleanValueDetails(ctx, "new-checkout", true, pro); err != nil || d.Value || d.Reason != of.DisabledReason {
		t.Fatalf("with the server down: %+v %v", d, err)
	}

	// The next server keeps the override, and stops everything.
	opts.StopServices = true
	next := startServer(t, opts)
	t.Cleanup(func() { next.stop(t) })
	list, err = api.NewClient(next.info.Socket).Flags(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Flag == "new-checkout" && (s.Override == nil || !s.Override.Kill) {
			t.Errorf("after a restart: %+v", s)
		}
	}
}
