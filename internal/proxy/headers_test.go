package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func echoHeadersBackend(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{
			"host":  r.Host,
			"xff":   r.Header.Get("X-Forwarded-For"),
			"proto": r.Header.Get("X-Forwarded-Proto"),
			"xfh":   r.Header.Get("X-Forwarded-Host"),
			"rid":   r.Header.Get("X-Request-Id"),
			"hop":   r.Header.Get("X-Hop"),
			"keep":  r.Header.Get("X-Keep"),
		})
	}))
	t.Cleanup(s.Close)
	return s
}

func TestForwardedHeadersAndRequestID(t *testing.T) {
	t.Parallel()
	be := echoHeadersBackend(t)
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(be))))

	code, body, hdr := p.do(t, http.DefaultClient, "GET", "app.test:8080", "/", nil, http.Header{
		"X-Forwarded-For": {"6.6.6.6"}, "Connection": {"X-Hop"}, "X-Hop": {"1"}, "X-Keep": {"1"}})
	var got map[string]string
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 {
		t.Fatalf("%d %q %v", code, body, err)
	}
	want := map[string]string{"host": "app.test:8080", "xff": "127.0.0.1", "proto": "http", "xfh": "app.test:8080", "hop": "", "keep": "1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["rid"] == "" || hdr.Get("X-Request-Id") != got["rid"] {
		t.Errorf("generated request id: backend saw %q, client got %q", got["rid"], hdr.Get("X-Request-Id"))
	}
	// A request with a body takes httputil.ReverseProxy: same headers.
	code, body, hdr = p.do(t, http.DefaultClient, "POST", "app.test", "/", strings.NewReader("x"), http.Header{"X-Forwarded-Proto": {"https"}})
	got = nil
	json.Unmarshal([]byte(body), &got)
	if code != 200 || got["xff"] != "127.0.0.1" || got["proto"] != "http" || got["xfh"] != "app.test" || got["rid"] == "" || hdr.Get("X-Request-Id") != got["rid"] {
		t.Errorf("POST: %d %v, X-Request-Id %q", code, got, hdr.Get("X-Request-Id"))
	}
	_, body, hdr = p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, http.Header{"X-Request-Id": {"abc-123"}})
	json.Unmarshal([]byte(body), &got)
	if got["rid"] != "abc-123" || hdr.Get("X-Request-Id") != "abc-123" || len(hdr.Values("X-Request-Id")) != 1 {
		t.Errorf("given request id: backend %q, client %v", got["rid"], hdr.Values("X-Request-Id"))
	}
}

// Request ids are unique across batches and goroutines.
func TestRequestIDsUnique(t *testing.T) {
	t.Parallel()
	ids := newIDSource()
	const workers, each = 4, 3 * idBatchSize
	got := make(chan string, workers*each)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				v := ids.next()
				if len(v) != 1 || cap(v) != 1 || v[0] == "" {
					t.Errorf("id %q (cap %d): want one non-empty value, capacity 1", v, cap(v))
					return
				}
				got <- v[0]
			}
		}()
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for id := range got {
		if seen[id] {
			t.Fatalf("id %s handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d ids, want %d", len(seen), workers*each)
	}
}
