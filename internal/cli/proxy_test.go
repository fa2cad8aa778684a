package cli

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/testkit"
)

func TestProxyCommandServesUntilCancelled(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "tugcli") // short: unix socket path limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr testkit.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"proxy", "--state-dir", dir, "--http", "127.0.0.1:0", "--access-log=false"},
			Env{Stderr: &stderr, Getwd: func() (string, error) { return dir, nil }})
	}()
	c := proxy.NewClient(proxy.ControlSocketPath(dir))
	if !testkit.Poll(15*time.Second, func() bool { return c.Healthz(ctx) == nil }) {
		t.Fatalf("tug proxy did not answer on its control socket; stderr: %s", stderr.String())
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel; stderr: %s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tug proxy did not stop on cancel")
	}
}

func TestProxyCommandNeedsAListener(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	code := Run(context.Background(), []string{"proxy", "--state-dir", t.TempDir()}, Env{Stderr: &stderr})
	if code != exitBadInput || !bytes.Contains(stderr.Bytes(), []byte("--http")) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
}
