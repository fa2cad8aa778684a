package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

// TestLogsCommandPrintsServerLines runs `tug logs` against the logs API.
func TestLogsCommandPrintsServerLines(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	inst := filepath.Join(dir, "instances", "web-1")
	if err := os.MkdirAll(inst, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(inst, "output.log"), []byte("boot ok\nerror: db down\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := logs.New(ctx, logs.Options{StateDir: dir, Poll: 10 * time.Millisecond,
		Instances: func(context.Context) ([]runtime.Instance, error) {
			return []runtime.Instance{{ID: "web-1", Service: "web", Environment: "prod", Release: "r1"}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; l.Close() })
	h, err := api.NewHandler(api.Options{Logs: l})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	testkit.Eventually(t, 0, "the first poll to ingest the lines", func() bool {
		got, _ := l.Search(ctx, logs.Query{Service: "web"})
		return len(got) == 2
	})
	var out, errOut bytes.Buffer
	code := Run(ctx, []string{"logs", "web", "--server", srv.URL, "--grep", "error", "--json"}, Env{Stdout: &out, Stderr: &errOut})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var ln logs.Line
	if err := json.Unmarshal(out.Bytes(), &ln); err != nil || ln.Text != "error: db down" || ln.Instance != "web-1" {
		t.Fatalf("--json output %q (%v)", out.String(), err)
	}
	out.Reset()
	if code := Run(ctx, []string{"logs", "web", "--server", srv.URL, "--env", "prod"}, Env{Stdout: &out, Stderr: &errOut}); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 2 || !strings.HasSuffix(lines[1], " web-1 error: db down") {
		t.Fatalf("plain output %q", out.String())
	}
	// A bad parameter reaching the server is bad input too.
	badH := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.RawQuery = "service=web&since=x"
		h.ServeHTTP(w, r)
	})
	bad := httptest.NewServer(badH)
	t.Cleanup(bad.Close)
	if code := Run(ctx, []string{"logs", "web", "--server", bad.URL}, Env{Stdout: &out, Stderr: &errOut}); code != exitBadInput {
		t.Fatalf("server 400: exit %d, want %d", code, exitBadInput)
	}
}
