package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

const dockerYAML = `version: 1
project: e2e-docker
services:
  boxed:
    image: %[1]s
    port: 8080
    env: {VERSION: %[2]s}
    secrets: [BOXED_TOKEN]
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["boxed.localhost"]
    deploy: {strategy: blue-green, drain_timeout: 2s}
`

// boxedToken is the docker service's secret in the end-to-end test.
const boxedToken = "bx-tok-7321-secret"

// dockerImage builds a FROM scratch image around the static test app,
// or skips when the engine is not there. The image and every container
// of owner are removed at the end.
func dockerImage(t *testing.T, app, owner string) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("docker engine not available")
	}
	ctxDir := t.TempDir()
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "app"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nCOPY app /app\nENTRYPOINT [\"/app\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("tug-server-e2e-app:%d", os.Getpid())
	if out, err := exec.Command("docker", "build", "-q", "--label", "tug.test=server-e2e", "-t", tag, ctxDir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+runtime.LabelOwner+"="+owner).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		_ = exec.Command("docker", "rmi", "-f", tag).Run()
	})
	return tag
}

// TestEndToEndDockerService deploys a container service blue-green and
// checks the proxy serves the new version. Its secret reaches the app
// through `tug secret-env` (the e2e tug is static), so the container's
// configuration never holds it.
func TestEndToEndDockerService(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	image := dockerImage(t, app, dockerOwner(state))
	stopProxyAfter(t, state)
	cfgPath := writeConfig(t, dir, fmt.Sprintf(dockerYAML, image, "v1"))
	proxyAddr := testkit.FreeAddr(t)
	srv := startServer(t, Options{
		ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true, SecretsInit: tug,
		LookupEnv: func(k string) (string, bool) {
			if k == "BOXED_TOKEN" {
				return boxedToken, true
			}
			return os.LookupEnv(k)
		},
	})
	t.Cleanup(func() { srv.stop(t) })
	c := api.NewClient(srv.info.Socket)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, v := range []string{"v1", "v2"} {
		if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(dockerYAML, image, v)), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		rel, err := c.Deploy(ctx, api.DeployRequest{Service: "boxed"}, nil)
		if err != nil {
			t.Fatalf("deploy %s: %v %+v\nlogs:\n%s", v, err, rel, srv.logs)
		}
		if !strings.HasPrefix(rel.Digest, "sha256:") {
			t.Errorf("release %s pins %q, want the image ID", rel.ID, rel.Digest)
		}
		if got, err := get(ctx, proxyAddr, "boxed.localhost"); err != nil || got != "version="+v {
			t.Fatalf("boxed via the proxy: %q %v (want %s)", got, err, v)
		}
	}

	// The app has its secret; `docker inspect` of its container does not.
	if got, err := getPath(ctx, proxyAddr, "boxed.localhost", "/env?k=BOXED_TOKEN"); err != nil || got != boxedToken {
		t.Fatalf("the app's secret: %q %v", got, err)
	}
	ids, err := exec.Command("docker", "ps", "-q", "--filter", "label="+runtime.LabelOwner+"="+dockerOwner(state)).Output()
	if err != nil || len(strings.Fields(string(ids))) == 0 {
		t.Fatalf("containers: %q %v", ids, err)
	}
	insp, err := exec.Command("docker", append([]string{"inspect"}, strings.Fields(string(ids))...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(insp), boxedToken) {
		t.Errorf("docker inspect shows the secret:\n%s", insp)
	}
	if !strings.Contains(string(insp), "/.tug/init") {
		t.Errorf("the container does not start through tug secret-env:\n%s", insp)
	}

	// The containers' output reaches `tug logs`, each line once, stamped
	// with the engine's time.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var lines []logs.Line
		err := c.Logs(ctx, logs.Params{Service: "boxed", Since: "1h", Limit: 1000}, func(l logs.Line) error {
			lines = append(lines, l)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		per := map[string]int{}
		for _, l := range lines {
			if strings.HasPrefix(l.Text, "app v") {
				per[l.Instance+" "+l.Text]++
				if l.Time.After(time.Now()) || time.Since(l.Time) > 5*time.Minute {
					t.Fatalf("line %+v: not the engine's time", l)
				}
			}
		}
		twice := false
		for k, n := range per {
			twice = twice || n > 1
			if n > 1 {
				t.Errorf("%q stored %d times", k, n)
			}
		}
		if twice {
			t.FailNow()
		}
		if len(per) >= 2 { // one instance of v1 and one of v2 at least
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container lines in the logs: %+v", lines)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
