package proxy

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// edgeRoute is oneRoute with an edge policy.
func edgeRoute(version int64, host string, e *Edge, pools ...*Pool) *Table {
	t := oneRoute(version, host, pools...)
	t.Routes[0].Edge = e
	return t
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (127.0.0.0/8 is all loopback on Linux).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

func TestRateLimitRefusesAClientOverItsRateAndNotAnother(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "b")
	p := startProxy(t, stateDir(t), nil)
	// Two at once, then one an hour: the third request in a row is over.
	limit := &RateLimit{Requests: 1, Per: time.Hour, Burst: 2}
	p.apply(t, edgeRoute(1, "app.test", &Edge{RateLimit: limit}, mkPool("r1", 1, hostOf(be))))

	a, b := clientFrom("127.0.0.1"), clientFrom("127.0.0.2")
	for i := range 2 {
		if code, _, _ := p.do(t, a, "GET", "app.test", "/", nil, nil); code != 200 {
			t.Fatalf("request %d within the burst: %d", i, code)
		}
	}
	code, body, hdr := p.do(t, a, "GET", "app.test", "/", nil, nil)
	if code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d %q, want 429", code, body)
	}
	ra, err := strconv.Atoi(hdr.Get("Retry-After"))
	if err != nil || ra < 3500 || ra > 3600 {
		t.Errorf("Retry-After %q, want about an hour in seconds", hdr.Get("Retry-After"))
	}
	// A request with a body is refused the same way.
	if code, _, _ := p.do(t, a, "POST", "app.test", "/", strings.NewReader("x"), nil); code != 429 {
		t.Errorf("POST over the rate: %d", code)
	}
	// Another client is unaffected.
	for i := range 2 {
		if code, _, _ := p.do(t, b, "GET", "app.test", "/", nil, nil); code != 200 {
			t.Fatalf("other client, request %d: %d", i, code)
		}
	}
	// A new table with the same limit (every deploy pushes one) keeps
	// the buckets; a changed limit starts new ones.
	p.apply(t, edgeRoute(2, "app.test", &Edge{RateLimit: limit}, mkPool("r2", 1, hostOf(be))))
	if code, _, _ := p.do(t, a, "GET", "app.test", "/", nil, nil); code != 429 {
		t.Errorf("after a table push with the same limit: %d, want 429", code)
	}
	p.apply(t, edgeRoute(3, "app.test", &Edge{RateLimit: &RateLimit{Requests: 1, Per: time.Hour, Burst: 3}}, mkPool("r2", 1, hostOf(be))))
	if code, _, _ := p.do(t, a, "GET", "app.test", "/", nil, nil); code != 200 {
		t.Errorf("after the limit changed: %d, want 200", code)
	}

	text, err := p.client.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := `tug_proxy_requests_total{code="429",environment="prod",instance="",release="",service="web"} 3`
	if !strings.Contains(string(text), want) {
		t.Errorf("metrics lack %s\n%s", want, text)
	}
}

func TestRateLimitByHeader(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "b")
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, edgeRoute(1, "app.test", &Edge{RateLimit: &RateLimit{Requests: 1, Per: time.Hour, By: "header:X-Api-Key"}}, mkPool("r1", 1, hostOf(be))))
	key := func(k string) http.Header { return http.Header{"X-Api-Key": {k}} }
	for _, c := range []struct {
		hdr  http.Header
		want int
	}{
		{key("alice"), 200}, {key("alice"), 429}, {key("bob"), 200},
		// Without the header a client counts by its address.
		{nil, 200}, {nil, 429},
	} {
		if code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, c.hdr); code != c.want {
			t.Errorf("%v: %d, want %d", c.hdr, code, c.want)
		}
	}
}

func TestLimiterRefillsAtItsRate(t *testing.T) {
	t.Parallel()
	l := newLimiter(&RateLimit{Requests: 10, Per: time.Second, Burst: 2}, 0)
	t0 := time.Unix(1000, 0).UnixNano()
	for i := range 2 {
		if _, ok := l.allow("c", t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	wait, ok := l.allow("c", t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%v, want refused for 100ms", ok, wait)
	}
	if _, ok := l.allow("c", t0+int64(99*time.Millisecond)); ok {
		t.Error("allowed before a token was back")
	}
	if _, ok := l.allow("c", t0+int64(100*time.Millisecond)); !ok {
		t.Error("refused once a token was back")
	}
	// A bucket refills to burst, no further.
	late := t0 + int64(time.Hour)
	for i := range 3 {
		_, ok := l.allow("c", late)
		if ok != (i < 2) {
			t.Errorf("after an hour, request %d: allowed=%v", i, ok)
		}
	}
}

// TestLimiterMemoryIsBounded: a million distinct clients (a scan, or
// spoofed header values) never hold more buckets than the cap.
func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	const capClients = 1024
	l := newLimiter(&RateLimit{Requests: 1, Per: time.Hour}, capClients)
	now := time.Now().UnixNano()
	for i := range 1_000_000 {
		l.allow(strconv.Itoa(i), now)
	}
	if n := l.clients(); n > capClients || n < capClients/2 {
		t.Fatalf("%d buckets held, want at most %d (and most of them used)", n, capClients)
	}
	// The least recently seen client went first; a recent one is kept.
	if _, ok := l.allow("999999", now); ok {
		t.Error("the most recent client's bucket was dropped")
	}
}

func TestRateLimitClientsBoundedThroughTheProxy(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "b")
	p := startProxy(t, stateDir(t), func(o *Options) { o.RateLimitClients = 64 })
	p.apply(t, edgeRoute(1, "app.test", &Edge{RateLimit: &RateLimit{Requests: 1, Per: time.Hour, By: "header:X-Client"}}, mkPool("r1", 1, hostOf(be))))
	for i := range 1000 {
		if code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, http.Header{"X-Client": {strconv.Itoa(i)}}); code != 200 {
			t.Fatalf("client %d: %d", i, code)
		}
	}
	rte := p.srv.routing.Load().match("app.test", "/")
	if n := rte.edge.limiter.clients(); n > 64 {
		t.Fatalf("%d buckets for 1000 clients, cap 64", n)
	}
}

func TestMaxBody(t *testing.T) {
	t.Parallel()
	var reached atomic.Int64
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, edgeRoute(1, "app.test", &Edge{MaxBody: 10}, mkPool("r1", 1, hostOf(be))))

	if code, body, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", strings.NewReader("0123456789"), nil); code != 200 || body != "10" {
		t.Errorf("body at the limit: %d %q", code, body)
	}
	if code, _, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", strings.NewReader("0123456789A"), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared body over the limit: %d, want 413", code)
	}
	if reached.Load() != 1 {
		t.Errorf("the backend saw %d requests, want only the one within the limit", reached.Load())
	}
	// Chunked (no declared length): cut where it passes the limit.
	chunked := func(s string) io.Reader { return io.MultiReader(strings.NewReader(s)) }
	if code, body, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", chunked("0123456789"), nil); code != 200 || body != "10" {
		t.Errorf("chunked body at the limit: %d %q", code, body)
	}
	if code, _, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", chunked(strings.Repeat("x", 100_000)), nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked body over the limit: %d, want 413", code)
	}
	text, _ := p.client.Metrics(t.Context())
	if want := `tug_proxy_requests_total{code="413",environment="prod",instance="",release="",service="web"} 2`; !strings.Contains(string(text), want) {
		t.Errorf("metrics lack %s", want)
	}
}

func TestEdgeHeadersOnEveryPath(t *testing.T) {
	t.Parallel()
	be := newHTTPTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Server", "leaky/1.0")
		w.Header().Set("X-Frame-Options", "ALLOWALL")
		io.WriteString(w, "ok")
	}))
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, edgeRoute(1, "app.test", &Edge{
		Headers: map[string]string{"x-frame-options": "DENY", "X-Content-Type-Options": "nosniff", "Server": ""},
		HSTS:    365 * 24 * time.Hour,
	}, mkPool("r1", 1, hostOf(be))))
	for _, method := range []string{"GET", "POST"} { // the fast path and ReverseProxy
		var body io.Reader
		if method == "POST" {
			body = strings.NewReader("x")
		}
		code, _, hdr := p.do(t, http.DefaultClient, method, "app.test", "/", body, nil)
		if code != 200 || hdr.Get("X-Frame-Options") != "DENY" || hdr.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d, headers %v", method, code, hdr)
		}
		if len(hdr.Values("X-Frame-Options")) != 1 || hdr.Get("Server") != "" {
			t.Errorf("%s: the backend's headers stayed: %v", method, hdr)
		}
		if hdr.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS on plain HTTP", method)
		}
	}
}

func TestRedirectToHTTPSAndHSTS(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "b")
	certFile, keyFile, roots := writeTestCert(t, t.TempDir())
	p := startProxy(t, stateDir(t), func(o *Options) {
		o.HTTPSAddr = "127.0.0.1:0"
		o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
	})
	p.apply(t, edgeRoute(1, "app.test", &Edge{RedirectHTTPS: true, HSTS: 24 * time.Hour}, mkPool("r1", 1, hostOf(be))))

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	code, _, hdr := p.do(t, noFollow, "GET", "APP.test:80", "/a/b?q=1", nil, nil)
	port := p.srv.HTTPSAddr().(*net.TCPAddr).Port
	if want := fmt.Sprintf("https://app.test:%d/a/b?q=1", port); code != http.StatusPermanentRedirect || hdr.Get("Location") != want {
		t.Fatalf("plain request: %d Location %q, want 308 to %s", code, hdr.Get("Location"), want)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "app.test"}}}
	req, _ := http.NewRequest("GET", "https://"+p.srv.HTTPSAddr().String()+"/", nil)
	req.Host = "app.test"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "max-age=86400" {
		t.Errorf("over TLS: %d, Strict-Transport-Security %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
	// A route without redirect_https answers plain HTTP.
	p.apply(t, edgeRoute(2, "app.test", &Edge{HSTS: time.Hour}, mkPool("r1", 1, hostOf(be))))
	if code, _, _ := p.do(t, noFollow, "GET", "app.test", "/", nil, nil); code != 200 {
		t.Errorf("without redirect: %d", code)
	}
}

func TestEdgeInvalidTable(t *testing.T) {
	t.Parallel()
	for _, e := range []*Edge{
		{RateLimit: &RateLimit{Requests: 0}},
		{RateLimit: &RateLimit{Requests: 1, By: "cookie:x"}},
		{RateLimit: &RateLimit{Requests: 1, By: "header:a b"}},
		{MaxBody: -1},
		{Headers: map[string]string{"X-A": "a\r\nb"}},
	} {
		if err := Validate(edgeRoute(1, "app.test", e)); err == nil {
			t.Errorf("%+v accepted", e)
		}
	}
}

// BenchmarkLimiterAllow is the rate limit's cost per request: one client
// (every request on one bucket, the most contended case) and many.
func BenchmarkLimiterAllow(b *testing.B) {
	for _, clients := range []int{1, 10_000} {
		b.Run(strconv.Itoa(clients)+"-clients", func(b *testing.B) {
			l := newLimiter(&RateLimit{Requests: 1e9, Per: time.Second, Burst: 1e9}, 0)
			keys := make([]string, clients)
			for i := range keys {
				keys[i] = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					l.allow(keys[i%clients], time.Now().UnixNano())
					i++
				}
			})
		})
	}
}
