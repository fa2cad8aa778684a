package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/testkit"
)

// runProxy runs a real proxy in-process on state until the test ends or
// the returned stop is called.
func runProxy(t *testing.T, state string) (stop func()) {
	t.Helper()
	srv, err := proxy.New(proxy.Options{StateDir: state, HTTPAddr: "127.0.0.1:0", NoAccessLog: true, NoHandoff: true, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case <-done:
		t.Fatal("proxy did not start")
	}
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

// TestSupervisorRepushesALostTable: a proxy restarted on a damaged table
// file comes back with an older table (or none); the supervisor notices
// from its health answer and pushes the current table again at once.
func TestSupervisorRepushesALostTable(t *testing.T) {
	t.Parallel()
	state, err := os.MkdirTemp("", "tugs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	stop := runProxy(t, state)
	px := newProxySupervisor(state, nil, slog.New(slog.DiscardHandler))
	px.interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	table := func(v int64) *proxy.Table {
		return &proxy.Table{Version: v, Routes: []*proxy.Route{{Host: "app.test", Service: "web", Environment: "prod",
			Pools: []*proxy.Pool{{Release: "r1", Weight: 1, Backends: []*proxy.Backend{{Instance: "i1", Addr: "127.0.0.1:1"}}}}}}}
	}
	if err := px.Apply(ctx, table(5)); err != nil {
		t.Fatal(err)
	}
	if err := px.Apply(ctx, table(9)); err != nil {
		t.Fatal(err)
	}
	go px.supervise(ctx)

	for _, damage := range []struct {
		name  string
		files []string
	}{
		{"current file damaged", []string{"table.json"}},
		{"both files damaged", []string{"table.json", "table.prev.json"}},
	} {
		stop()
		for _, f := range damage.files {
			if err := os.Truncate(filepath.Join(state, proxy.DataDirName, f), 7); err != nil {
				t.Fatal(err)
			}
		}
		stop = runProxy(t, state)
		testkit.Eventually(t, 5*time.Second, damage.name+": the proxy serves version 9 again", func() bool {
			h, err := px.health(ctx)
			return err == nil && h.Version == 9 && h.Routes == 1
		})
	}
}
