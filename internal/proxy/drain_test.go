package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tugdev/tug/internal/testkit"
)

func TestDrainFinishesInFlight(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "slow done")
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	fresh := namedBackend(t, "fresh")
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, oneRoute(1, "app.test", mkPool("r1", 1, hostOf(slow))))

	type result struct {
		code int
		body string
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", p.url+"/slow", nil)
		req.Host = "app.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b)}
	}()
	<-started

	// The slow backend leaves the table while its request runs.
	p.apply(t, oneRoute(2, "app.test", mkPool("r2", 1, hostOf(fresh))))
	var st *BackendStatus
	for _, b := range mustBackends(t, p) {
		if b.Addr == hostOf(slow) {
			st = &b
		}
	}
	if st == nil || !st.Draining || st.InFlight != 1 {
		t.Fatalf("removed backend status %+v, want draining with 1 in flight", st)
	}
	for i := 0; i < 5; i++ {
		if _, body, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); body != "fresh" {
			t.Fatalf("new request went to %q, not the fresh backend", body)
		}
	}
	close(release)
	r := <-done
	if r.code != 200 || r.body != "slow done" {
		t.Fatalf("in-flight request on the drained backend: %d %q", r.code, r.body)
	}
	testkit.Eventually(t, 0, "drained backend gone from /backends", func() bool {
		for _, b := range mustBackends(t, p) {
			if b.Addr == hostOf(slow) {
				return false
			}
		}
		return true
	})
}
