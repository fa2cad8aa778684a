package deploy

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
)

// TestEdgeReachesTheTable: a service's rate limit, body limit, headers and
// HTTPS settings, overridden per environment, are in the routes pushed to
// the proxy, and a reload that changes them pushes a new table at once.
func TestEdgeReachesTheTable(t *testing.T) {
	h := newHarness(t, configWith(webService("rolling", "ok")))
	h.mustDeploy("")
	if e := h.router.current().Routes[0].Edge; e != nil {
		t.Fatalf("a service without edge keys: %+v", e)
	}

	c := configWith(webService("rolling", "ok"))
	yes := true
	web := c.Services["web"]
	web.RateLimit = &config.RateLimit{Requests: 100, Per: config.Duration(time.Second), Burst: 200, By: "header:X-Key"}
	web.MaxBody = 1 << 20
	web.Headers = map[string]string{"X-Frame-Options": "DENY", "X-A": "service"}
	web.HTTPS = &config.ServiceHTTPS{HSTS: config.Duration(24 * time.Hour)}
	web.Environments = map[string]*config.ServiceEnvironment{"default": {
		RateLimit: &config.RateLimit{Requests: 5},
		Headers:   map[string]string{"X-A": "env"},
		HTTPS:     &config.ServiceHTTPS{Redirect: &yes, HSTS: config.Duration(time.Hour)},
	}}
	c.Proxy = &config.Proxy{HTTPS: "127.0.0.1:8443"}
	if err := h.m.ApplyConfig(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := h.router.current().Routes[0].Edge
	want := &proxy.Edge{
		RateLimit:     &proxy.RateLimit{Requests: 5},
		MaxBody:       1 << 20,
		Headers:       map[string]string{"X-Frame-Options": "DENY", "X-A": "env"},
		RedirectHTTPS: true,
		HSTS:          time.Hour,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("edge of the route:\n got %+v\nwant %+v", got, want)
	}

	// With an https listener, plain HTTP redirects unless a service says not.
	c2 := configWith(webService("rolling", "ok"))
	c2.Proxy = &config.Proxy{HTTPS: "127.0.0.1:8443"}
	if err := h.m.ApplyConfig(context.Background(), c2); err != nil {
		t.Fatal(err)
	}
	if e := h.router.current().Routes[0].Edge; e == nil || !e.RedirectHTTPS {
		t.Errorf("default with proxy.https: %+v, want a redirect", e)
	}
	no := false
	c3 := configWith(webService("rolling", "ok"))
	c3.Proxy = c2.Proxy
	c3.Services["web"].HTTPS = &config.ServiceHTTPS{Redirect: &no}
	if err := h.m.ApplyConfig(context.Background(), c3); err != nil {
		t.Fatal(err)
	}
	if e := h.router.current().Routes[0].Edge; e != nil {
		t.Errorf("redirect: false and nothing else: %+v, want no edge", e)
	}
}
