package proxy

import (
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// TestHandoffUnderLoad: a second Server takes the first one's sockets
// while 8 clients hammer it; not one request fails, the old one exits on
// its own, and the new one serves the same address and control socket.
func TestHandoffUnderLoad(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	dir := stateDir(t)
	old := startProxy(t, dir, nil)
	old.apply(t, oneRoute(3, "app.test", mkPool("r1", 1, hostOf(be))))

	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
				req, _ := http.NewRequest("GET", old.url+"/", nil)
				req.Host = "app.test"
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "a" {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, resp.Status+" "+string(b))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	testkit.Eventually(t, 0, "the old proxy to serve the load", func() bool { return ok.Load() >= 50 })
	servedByOldBefore := old.srv.metrics.stats()[0].Requests
	next := startProxy(t, dir, nil)
	select {
	case <-old.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("old proxy did not exit after handing over")
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during handoff; first: %v", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if next.url != old.url {
		t.Fatalf("new proxy serves %s, old served %s: the socket was not handed over", next.url, old.url)
	}
	servedByNew := next.srv.metrics.stats()
	if servedByOldBefore == 0 || len(servedByNew) == 0 || servedByNew[0].Requests == 0 {
		t.Fatalf("old served %d before, new stats %+v: both should have served", servedByOldBefore, servedByNew)
	}
	got, err := next.client.Table(t.Context())
	if err != nil || got.Version != 3 {
		t.Fatalf("control socket after handoff: %+v %v", got, err)
	}
	t.Logf("%d requests, 0 failed; old served %d before the handoff, new %d", ok.Load(), servedByOldBefore, servedByNew[0].Requests)
	// The new proxy can itself be replaced.
	third := startProxy(t, dir, nil)
	select {
	case <-next.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("second proxy did not hand over")
	}
	if third.url != old.url {
		t.Fatal("third proxy did not inherit the socket")
	}
}

func TestSameAddr(t *testing.T) {
	t.Parallel()
	have := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8080}
	for want, ok := range map[string]bool{
		"127.0.0.1:8080": true, ":8080": true, "127.0.0.1:0": true,
		"127.0.0.1:8081": false, "10.0.0.1:8080": false, "": false,
	} {
		if sameAddr(want, have) != ok {
			t.Errorf("sameAddr(%q) = %v, want %v", want, !ok, ok)
		}
	}
}
