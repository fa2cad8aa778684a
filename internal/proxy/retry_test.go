package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

func TestRetryIdempotentOnConnectionRefused(t *testing.T) {
	t.Parallel()
	good := namedBackend(t, "good")
	p := startProxy(t, stateDir(t), func(o *Options) { o.EjectAfter = 1000 }) // no ejection here
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, deadAddr(t), hostOf(good))))
	for i := 0; i < 10; i++ {
		code, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil)
		if code != 200 || body != "good" {
			t.Fatalf("GET %d: %d %q; should have been retried on the good backend", i, code, body)
		}
	}
	failed := 0
	for i := 0; i < 10; i++ {
		code, body, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", strings.NewReader("payload"), nil)
		switch code {
		case 200:
		case 502:
			failed++
			if !strings.Contains(body, "failed") {
				t.Fatalf("502 body %q", body)
			}
		default:
			t.Fatalf("POST %d: %d", i, code)
		}
	}
	if failed != 5 {
		t.Fatalf("%d of 10 POSTs with a body failed, want 5 (round robin, no retry)", failed)
	}
	st, err := p.client.Stats(t.Context())
	if err != nil || len(st) != 1 || st[0].Errors != 5 {
		t.Fatalf("stats %+v %v: want 5 errors", st, err)
	}
}

func TestPassiveEjection(t *testing.T) {
	t.Parallel()
	good := namedBackend(t, "good")
	now := time.Now()
	clock := testkit.NewClock(now)
	p := startProxy(t, stateDir(t), func(o *Options) {
		o.EjectAfter = 2
		o.EjectCooldown = time.Minute
		o.Now = clock.Now
	})
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, deadAddr(t), hostOf(good))))
	post := func() int {
		code, _, _ := p.do(t, http.DefaultClient, "POST", "app.test", "/", strings.NewReader("x"), nil)
		return code
	}
	failed := 0
	for i := 0; i < 20; i++ {
		if post() != 200 {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d of 20 failed; want exactly 2 before the dead backend is ejected", failed)
	}
	// After the cooldown the backend is tried again (and fails again).
	clock.Set(now.Add(2 * time.Minute))
	failed = 0
	for i := 0; i < 4; i++ {
		if post() != 200 {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("after cooldown %d of 4 failed, want 1 (one probe request, then ejected again)", failed)
	}
}
