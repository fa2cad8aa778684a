package proxy

import (
	"net/http"
	"strings"
	"testing"
)

func TestRouteByHostAndLongestPrefix(t *testing.T) {
	t.Parallel()
	root, api, v2 := namedBackend(t, "root"), namedBackend(t, "api"), namedBackend(t, "v2")
	p := startProxy(t, stateDir(t), nil)
	tab := &Table{Version: 1, Routes: []*Route{
		{Host: "App.Test", Service: "web", Environment: "prod", Pools: []*Pool{mkPool("r", 1, hostOf(root))}},
		{Host: "app.test", PathPrefix: "/api", Service: "api", Environment: "prod", Pools: []*Pool{mkPool("r", 1, hostOf(api))}},
		{Host: "app.test", PathPrefix: "/api/v2/", Service: "v2", Environment: "prod", Pools: []*Pool{mkPool("r", 1, hostOf(v2))}},
	}}
	p.apply(t, tab)
	for _, tc := range []struct{ host, path, want string }{
		{"app.test", "/", "root"},
		{"APP.test:8080", "/x", "root"},
		{"app.test", "/api", "api"},
		{"app.test", "/api/users", "api"},
		{"app.test", "/apix", "root"},
		{"app.test", "/api/v2/x", "v2"},
	} {
		code, body, _ := p.do(t, http.DefaultClient, "GET", tc.host, tc.path, nil, nil)
		if code != 200 || body != tc.want {
			t.Errorf("%s%s: %d %q, want %q", tc.host, tc.path, code, body, tc.want)
		}
	}
}

func TestNoRoute404AndNoBackend503(t *testing.T) {
	t.Parallel()
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, deadAddr(t))))
	code, body, hdr := p.do(t, http.DefaultClient, "GET", "other.test", "/", nil, nil)
	if code != 404 || !strings.Contains(body, "no route") || hdr.Get("X-Request-Id") == "" {
		t.Fatalf("unknown host: %d %q", code, body)
	}
	// A pool of weight 0 takes nothing: no backend to pick.
	p.apply(t, oneRoute(2, "app.test", mkPool("r1", 0, deadAddr(t))))
	code, body, _ = p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
	if code != 503 || !strings.Contains(body, "no healthy backend") {
		t.Fatalf("no backend: %d %q", code, body)
	}
}

func TestNormalHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"a.b": "a.b", "A.B:80": "a.b", "[::1]:8080": "::1", "[::1]": "::1"} {
		if got := normalHost(in); got != want {
			t.Errorf("normalHost(%q) = %q, want %q", in, got, want)
		}
	}
}
