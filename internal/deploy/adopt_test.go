package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// An instance a restarted server adopted, which then crashes, is
// restarted by the runtime with the secrets its release got: the new
// server hands them back after adopting it.
func TestAdoptedInstanceRestartsWithItsSecrets(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "state"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	src := &versioned{}
	src.set("APP_SECRET", "default", "s3cret-of-the-release")
	router := newFakeRouter()
	svc := &config.Service{
		Run: fmt.Sprintf("exec %q", os.Args[0]), Env: map[string]string{appEnv: "1"}, Secrets: []string{"APP_SECRET"}, Routes: []string{"app.test"},
		Health: &config.Health{Path: "/healthz", Interval: config.Duration(100 * time.Millisecond), Timeout: config.Duration(time.Second)},
		Deploy: &config.DeployPolicy{Strategy: "rolling", DeployTimeout: config.Duration(20 * time.Second), DrainTimeout: config.Duration(time.Second)},
	}
	server := func() (*Manager, *runtime.Process) {
		t.Helper()
		rt, err := runtime.NewProcess(runtime.ProcessOptions{StateDir: filepath.Join(dir, "rt"), Restart: runtime.RestartPolicy{BackoffMin: 50 * time.Millisecond}, PollInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(Options{Store: st, Runtimes: map[string]runtime.Runtime{"process": rt}, Router: router,
			Secrets: secret.Chain{src}, RepoDir: repo, StateDir: filepath.Join(dir, "state"), PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		m.SetConfig(configWith(svc))
		return m, rt
	}
	secretOf := func(in runtime.Instance) string {
		resp, err := http.Get("http://" + in.Addr + "/secret")
		if err != nil {
			return "unreachable: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m1, rt1 := server()
	if _, err := m1.Deploy(ctx, Request{Service: "web"}, nil); err != nil {
		t.Fatal(err)
	}
	// The server stops; its instances go on.
	m1.Shutdown(ctx, false)
	rt1.Close()

	m2, rt2 := server()
	t.Cleanup(func() {
		m2.Shutdown(context.Background(), true)
		rt2.Close()
	})
	if err := m2.Recover(ctx, nil); err != nil {
		t.Fatal(err)
	}
	insts, err := rt2.List(ctx)
	if err != nil || len(insts) != 1 {
		t.Fatalf("adopted: %+v %v", insts, err)
	}
	in := insts[0]
	if got := secretOf(in); got != "s3cret-of-the-release" {
		t.Fatalf("the adopted instance serves %q", got)
	}
	if err := syscall.Kill(in.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var again runtime.Instance
	testkit.Eventually(t, 20*time.Second, "the crashed instance to run again", func() bool {
		l, err := rt2.List(ctx)
		if err != nil || len(l) != 1 || l[0].PID == in.PID || l[0].State != runtime.Running {
			return false
		}
		again = l[0]
		_, err = http.Get("http://" + again.Addr + "/healthz")
		return err == nil
	})
	if got := secretOf(again); got != "s3cret-of-the-release" {
		t.Fatalf("restarted after adoption, the instance has APP_SECRET %q", got)
	}
}
