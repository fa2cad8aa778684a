package proxy

import (
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"
)

func TestStickyCookie(t *testing.T) {
	t.Parallel()
	a, b := namedBackend(t, "a"), namedBackend(t, "b")
	p := startProxy(t, stateDir(t), nil)
	tab := oneRoute(1, "app.test", mkPool("r1", 1, hostOf(a), hostOf(b)))
	tab.Routes[0].StickyCookie = "tug_sticky"
	tab.Routes[0].StickyTTL = time.Hour
	p.apply(t, tab)

	// Without cookies, round robin alternates.
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		_, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		seen[body]++
	}
	if seen["a"] != 2 || seen["b"] != 2 {
		t.Fatalf("without cookie: %v, want 2/2", seen)
	}
	// With a cookie jar, every request lands where the first did.
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	code, first, hdr := p.do(t, c, "GET", "app.test", "/", nil, nil)
	if code != 200 || hdr.Get("Set-Cookie") == "" {
		t.Fatalf("first sticky request: %d, Set-Cookie %q", code, hdr.Get("Set-Cookie"))
	}
	ck := (&http.Response{Header: hdr}).Cookies()[0]
	if ck.Name != "tug_sticky" || ck.MaxAge != 3600 {
		t.Fatalf("cookie %+v", ck)
	}
	for i := 0; i < 10; i++ {
		_, body, h := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, http.Header{"Cookie": {ck.Name + "=" + ck.Value}})
		if body != first {
			t.Fatalf("request %d went to %s, pinned to %s", i, body, first)
		}
		if h.Get("Set-Cookie") != "" {
			t.Fatalf("pinned request got a new cookie %q", h.Get("Set-Cookie"))
		}
	}
	// A cookie naming an unknown backend is replaced.
	_, _, h := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, http.Header{"Cookie": {"tug_sticky=nope"}})
	if h.Get("Set-Cookie") == "" {
		t.Fatal("stale cookie not replaced")
	}
}
