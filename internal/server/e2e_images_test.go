package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/testkit"
)

const imagesYAML = `version: 1
project: e2e-images
server:
  registry: {listen: %[1]s}
pipelines:
  ci:
    jobs:
      image: {build_image: {name: %[2]s, context: ., dockerfile: Dockerfile}}
services:
  shop:
    build_image: {name: %[2]s}
    port: 8080
    health: {path: /healthz, interval: 200ms, timeout: 1s}
    routes: ["shop.localhost"]
    deploy: {strategy: blue-green, drain_timeout: 1s}
`

// imagesDockerfile is the seed's multi-stage shape: a builder stage that
// copies the sources in and builds (here: installs the prebuilt static
// app), then a runtime stage from scratch copying the result, non-root.
const imagesDockerfile = `FROM %[1]s AS build
LABEL %[2]s
WORKDIR /src
COPY . .
RUN mkdir -p /out && cp app /out/app && chmod 755 /out/app

FROM scratch
LABEL %[2]s
COPY --from=build /out/app /app
ENV VERSION=%[3]s
USER 65532
ENTRYPOINT ["/app"]
`

// TestEndToEndImageBuildPushDeploy: the pipeline's build_image job (the
// real `tug run`) builds the multi-stage Dockerfile and pushes it to the
// registry `tug server` serves; the real docker CLI pulls it from there
// by digest and by tag, and pushes to it; a deploy of the commit finds
// the pipeline's image and pins its digest; a new commit's deploy builds
// and pushes its own; a rollback runs the first digest again.
func TestEndToEndImageBuildPushDeploy(t *testing.T) {
	t.Parallel()
	tug, app := binaries(t)
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("docker engine not available")
	}
	pid := os.Getpid()
	label := fmt.Sprintf("tug.test=server-images-%d", pid)
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	owner := dockerOwner(state)
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label="+runtime.LabelOwner+"="+owner).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		out, _ = exec.Command("docker", "images", "-aq", "--filter", "label="+label).Output()
		for _, id := range strings.Fields(string(out)) {
			exec.Command("docker", "rmi", "-f", id).Run()
		}
	})
	base := buildBusybox(t, dir, label, fmt.Sprintf("tug-server-e2e-busybox:%d", pid))

	// The repository: the app, its Dockerfile, tug.yaml; committed.
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	b, err := os.ReadFile(app)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "app"), b, 0o755)
	os.WriteFile(filepath.Join(repo, ".gitignore"), []byte(".tug/\n"), 0o644)
	regAddr := testkit.FreeAddr(t)
	name := fmt.Sprintf("e2e/shop-%d", pid)
	cfgPath := writeConfig(t, repo, fmt.Sprintf(imagesYAML, regAddr, name))
	state = filepath.Join(repo, ".tug")
	owner = dockerOwner(state)
	commit := func(version string) string {
		os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte(fmt.Sprintf(imagesDockerfile, base, label, version)), 0o644)
		gitIn(t, repo, "add", ".")
		gitIn(t, repo, "-c", "user.email=e2e@tug", "-c", "user.name=e2e", "commit", "-qm", version)
		return strings.TrimSpace(gitIn(t, repo, "rev-parse", "HEAD"))
	}
	gitIn(t, repo, "init", "-q")
	c1 := commit("v1")

	stopProxyAfter(t, state)
	proxyAddr := testkit.FreeAddr(t)
	srv := startServer(t, Options{
		ConfigPath: cfgPath, StateDir: state, HTTPAddr: proxyAddr,
		ProxyCommand: []string{tug, "proxy"}, StopServices: true,
	})
	t.Cleanup(func() { srv.stop(t) })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The pipeline builds and pushes, through the real binary.
	run := exec.CommandContext(ctx, tug, "-f", cfgPath, "run", "ci")
	run.Dir = repo
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("tug run: %v\n%s\nserver logs:\n%s", err, out, srv.logs)
	}
	repoRef := regAddr + "/" + name
	m := regexp.MustCompile(regexp.QuoteMeta(repoRef+":"+c1) + ` is (` + regexp.QuoteMeta(repoRef) + `@sha256:[0-9a-f]{64})`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("tug run did not say what it pushed:\n%s", out)
	}
	pushed := string(m[1])

	// The real docker CLI pulls it from tug's registry, by digest (after
	// the local copy is gone) and by tag, and pushes to it.
	docker(t, "rmi", repoRef+":"+c1)
	docker(t, "pull", pushed)
	docker(t, "pull", repoRef+":"+c1)
	docker(t, "tag", base, regAddr+"/e2e/base:"+c1[:12])
	if out := docker(t, "push", regAddr+"/e2e/base:"+c1[:12]); !strings.Contains(out, "digest: sha256:") {
		t.Errorf("docker push: %s", out)
	}
	docker(t, "rmi", repoRef+":"+c1, regAddr+"/e2e/base:"+c1[:12])

	// A deploy of the commit takes the pipeline's image, by digest.
	c := api.NewClient(srv.info.Socket)
	rel, err := c.Deploy(ctx, api.DeployRequest{Service: "shop", Who: "e2e"}, nil)
	if err != nil {
		t.Fatalf("deploy v1: %v %+v\nlogs:\n%s", err, rel, srv.logs)
	}
	if rel.Digest != pushed || rel.Revision != c1 {
		t.Errorf("release pins %q at %q, want the pipeline's %q at %q", rel.Digest, rel.Revision, pushed, c1)
	}
	if got, err := get(ctx, proxyAddr, "shop.localhost"); err != nil || got != "version=v1" {
		t.Fatalf("shop via the proxy: %q %v\nlogs:\n%s", got, err, srv.logs)
	}
	first := rel

	// A new commit no pipeline built: the deploy builds and pushes it.
	c2 := commit("v2")
	rel, err = c.Deploy(ctx, api.DeployRequest{Service: "shop", Who: "e2e"}, nil)
	if err != nil {
		t.Fatalf("deploy v2: %v %+v\nlogs:\n%s", err, rel, srv.logs)
	}
	if !strings.HasPrefix(rel.Digest, repoRef+"@sha256:") || rel.Digest == pushed || rel.Revision != c2 {
		t.Errorf("v2 release pins %q at %q", rel.Digest, rel.Revision)
	}
	if got, err := get(ctx, proxyAddr, "shop.localhost"); err != nil || got != "version=v2" {
		t.Fatalf("after v2: %q %v", got, err)
	}
	if out := docker(t, "pull", repoRef+":"+c2); !strings.Contains(out, strings.TrimPrefix(rel.Digest, repoRef+"@")) {
		t.Errorf("docker pull of the deploy's push: %s", out)
	}

	// Rolling back runs the first digest again.
	back, err := c.Rollback(ctx, api.RollbackRequest{Service: "shop", Who: "e2e"}, nil)
	if err != nil {
		t.Fatalf("rollback: %v %+v", err, back)
	}
	if got, err := get(ctx, proxyAddr, "shop.localhost"); err != nil || got != "version=v1" || back.Digest != first.Digest {
		t.Fatalf("after rollback: %q %v, release %+v", got, err, back)
	}
}

// buildBusybox builds a busybox image from the host's static busybox.
func buildBusybox(t *testing.T, dir, label, tag string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("the Docker tests need a static busybox at /bin/busybox (apt-get install busybox-static): %v", err)
	}
	ctxDir := filepath.Join(dir, "busybox")
	os.MkdirAll(ctxDir, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "busybox"), bb, 0o755)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\nLABEL "+label+"\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"), 0o644)
	docker(t, "build", "-q", "-t", tag, ctxDir)
	return tag
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}
