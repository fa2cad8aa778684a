package proxy

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTablePersistsAcrossRestart: a restarted proxy serves the last table
// at once, even though the health check of its backend has not answered
// yet (restored backends are assumed healthy).
func TestTablePersistsAcrossRestart(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			select { // the check never completes during the test
			case <-hold:
			case <-r.Context().Done():
			}
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(be.Close)
	dir := stateDir(t)
	p := startProxy(t, dir, nil)
	tab := oneRoute(7, "app.test", mkPool("r1", 1, hostOf(be)))
	tab.Routes[0].Health = &HealthCheck{Path: "/healthz", Interval: time.Hour, Timeout: time.Hour}
	p.apply(t, tab)
	if code, _, _ := p.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 503 {
		t.Fatalf("pushed backend before its first check: %d, want 503", code)
	}
	p.stop()
	if _, err := os.Stat(filepath.Join(dir, DataDirName, tableFile)); err != nil {
		t.Fatal(err)
	}

	p2 := startProxy(t, dir, nil)
	got, err := p2.client.Table(t.Context())
	if err != nil || got.Version != 7 || len(got.Routes) != 1 {
		t.Fatalf("restored table %+v %v", got, err)
	}
	if code, body, _ := p2.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 200 || body != "ok" {
		t.Fatalf("after restart: %d %q, want the restored backend to serve", code, body)
	}
	pid, err := os.ReadFile(filepath.Join(dir, DataDirName, PIDFileName))
	if err != nil || strings.TrimSpace(string(pid)) == "" {
		t.Fatalf("pid file: %q %v", pid, err)
	}
}

func TestStaleAndInvalidTables(t *testing.T) {
	t.Parallel()
	p := startProxy(t, stateDir(t), nil)
	be := namedBackend(t, "a")
	p.apply(t, oneRoute(5, "app.test", mkPool("r1", 1, hostOf(be))))
	err := p.client.Apply(t.Context(), oneRoute(4, "app.test", mkPool("r1", 1, hostOf(be))))
	if !errors.Is(err, ErrStale) {
		t.Fatalf("older version: %v, want ErrStale", err)
	}
	bad := oneRoute(6, "app.test", mkPool("r1", 1, "no-port"))
	err = p.client.Apply(t.Context(), bad)
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "routes[0].pools[0].backends[0].addr") {
		t.Fatalf("invalid table: %v, want 400 naming the place", err)
	}
	got, _ := p.client.Table(t.Context())
	if got.Version != 5 {
		t.Fatalf("refused pushes changed the table: version %d", got.Version)
	}
	// Same version again is accepted (idempotent push).
	p.apply(t, oneRoute(5, "app.test", mkPool("r1", 1, hostOf(be))))
}

// TestDamagedTableFallsBackToPrevious: a truncated table.json makes the
// restarted proxy serve the table before it (and say which in its health
// answer) instead of nothing; with no previous table it serves nothing
// and says version 0.
func TestDamagedTableFallsBackToPrevious(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "a")
	dir := stateDir(t)
	p := startProxy(t, dir, nil)
	p.apply(t, oneRoute(5, "app.test", mkPool("r1", 1, hostOf(be))))
	p.apply(t, oneRoute(6, "app.test", mkPool("r2", 1, hostOf(be))))
	p.apply(t, oneRoute(6, "app.test", mkPool("r2", 1, hostOf(be)))) // the same again keeps v5 as previous
	p.stop()
	if err := os.Truncate(filepath.Join(dir, DataDirName, tableFile), 10); err != nil {
		t.Fatal(err)
	}
	p2 := startProxy(t, dir, nil)
	h, err := p2.client.Health(t.Context())
	if err != nil || h.Version != 5 || h.Routes != 1 {
		t.Fatalf("health after restart on a damaged table: %+v %v; want version 5 with 1 route", h, err)
	}
	if code, body, _ := p2.do(t, http.DefaultClient, "GET", "app.test", "/", nil, nil); code != 200 || body != "a" {
		t.Fatalf("previous table does not serve: %d %q", code, body)
	}
	p2.stop()

	os.Truncate(filepath.Join(dir, DataDirName, tableFile), 10)
	os.Truncate(filepath.Join(dir, DataDirName, prevTableFile), 3)
	p3 := startProxy(t, dir, nil)
	if h, err := p3.client.Health(t.Context()); err != nil || h.Version != 0 || h.Routes != 0 {
		t.Fatalf("health with both tables damaged: %+v %v; want version 0", h, err)
	}
}
