package tugflags_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/isolated"

	"github.com/tugdev/tug/internal/flagset"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/testkit"
	"github.com/tugdev/tug/pkg/tugflags"
)

func table(version int64, killed bool) *proxy.Table {
	sum := sha256.Sum256([]byte("k1"))
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	return &proxy.Table{Version: version, Routes: []*proxy.Route{}, Flags: &flagset.Set{Environments: map[string]*flagset.Env{
		"production": {Keys: map[string]string{hex.EncodeToString(sum[:]): "web"}, Flags: map[string]*flagset.Flag{
			"new-checkout": {Type: flagset.TypeBoolean, Variants: map[string]json.RawMessage{"on": raw("true"), "off": raw("false")},
				Default: "off", Rules: []flagset.Rule{{If: `ctx.plan == "pro"`, Variant: "on"}}, Disabled: killed, Off: "off"},
			"theme":  {Type: flagset.TypeString, Variants: map[string]json.RawMessage{"dark": raw(`"dark"`)}, Default: "dark"},
			"banner": {Type: flagset.TypeObject, Variants: map[string]json.RawMessage{"big": raw(`{"size":3,"text":"hi"}`)}, Default: "big", Metadata: map[string]any{"team": "web"}},
			"limit":  {Type: flagset.TypeNumber, Variants: map[string]json.RawMessage{"n": raw("42")}, Default: "n"},
		}},
	}}}
}

func startProxy(t *testing.T) (*proxy.Server, *proxy.Client) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tugf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	srv, err := proxy.New(proxy.Options{StateDir: dir, HTTPAddr: "127.0.0.1:0", NoHandoff: true, NoAccessLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return srv, proxy.NewClient(proxy.ControlSocketPath(dir))
}

// TestSDKEvaluatesThroughTheProxy: the official SDK, with this provider
// in front of the proxy, evaluates boolean, string, number and object
// flags, tells a type mismatch and an unknown flag, and sees a kill
// switch within a second.
func TestSDKEvaluatesThroughTheProxy(t *testing.T) {
	t.Parallel()
	srv, ctl := startProxy(t)
	ctx := context.Background()
	if err := ctl.Apply(ctx, table(1, false)); err != nil {
		t.Fatal(err)
	}
	api := isolated.NewAPI()
	p := tugflags.New(tugflags.Options{URL: proxy.FlagsURL(srv.HTTPAddr().String(), "production"), Key: "k1", PollInterval: 100 * time.Millisecond})
	if err := api.SetProviderAndWait(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Shutdown(context.Background()) })
	c := api.NewClient()
	pro := of.NewEvaluationContext("user-1", map[string]any{"plan": "pro"})

	d, err := c.BooleanValueDetails(ctx, "new-checkout", false, pro)
	if err != nil || !d.Value || d.Reason != of.TargetingMatchReason || d.Variant != "on" {
		t.Fatalf("boolean: %+v %v", d, err)
	}
	if s, err := c.StringValue(ctx, "theme", "light", pro); err != nil || s != "dark" {
		t.Errorf("string: %q %v", s, err)
	}
	if n, err := c.IntValue(ctx, "limit", 0, pro); err != nil || n != 42 {
		t.Errorf("int: %d %v", n, err)
	}
	od, err := c.ObjectValueDetails(ctx, "banner", nil, pro)
	if m, _ := od.Value.(map[string]any); err != nil || m["text"] != "hi" || m["size"] != 3.0 || od.FlagMetadata["team"] != "web" {
		t.Errorf("object: %+v %v", od, err)
	}
	if _, err := c.BooleanValueDetails(ctx, "theme", false, pro); err == nil {
		t.Error("a string flag read as a boolean: no error")
	} else if dd, _ := c.BooleanValueDetails(ctx, "theme", false, pro); dd.ErrorCode != of.TypeMismatchCode {
		t.Errorf("type mismatch: %+v", dd)
	}
	if dd, _ := c.BooleanValueDetails(ctx, "nope", true, pro); dd.ErrorCode != of.FlagNotFoundCode || !dd.Value {
		t.Errorf("unknown flag: %+v", dd)
	}

	killedAt := time.Now()
	if err := ctl.Apply(ctx, table(2, true)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, time.Second, "the SDK to see the kill switch", func() bool {
		d, err := c.BooleanValueDetails(ctx, "new-checkout", true, pro)
		return err == nil && !d.Value && d.Reason == of.DisabledReason
	})
	t.Logf("kill seen by the SDK after %v", time.Since(killedAt).Round(time.Millisecond))
}

func TestProviderRefusedKey(t *testing.T) {
	t.Parallel()
	srv, ctl := startProxy(t)
	if err := ctl.Apply(context.Background(), table(1, false)); err != nil {
		t.Fatal(err)
	}
	api := isolated.NewAPI()
	p := tugflags.New(tugflags.Options{URL: proxy.FlagsURL(srv.HTTPAddr().String(), "production"), Key: "wrong"})
	if err := api.SetProviderAndWait(context.Background(), p); err == nil {
		t.Fatal("a provider with a wrong key became ready")
	}
	t.Cleanup(func() { api.Shutdown(context.Background()) })
}
