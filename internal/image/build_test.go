package image

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/tugdev/tug/internal/ociregistry"
	"github.com/tugdev/tug/internal/registry"
	"github.com/tugdev/tug/internal/testkit"
)

// testLabel marks every image these tests build (in each stage, so the
// classic builder's intermediate images carry it too), for the clean-up.
var testLabel = fmt.Sprintf("tug.test=image-%d", os.Getpid())

var engine struct {
	once sync.Once
	cli  *client.Client
	base string // a busybox image built from the host's static busybox
	err  error
	skip string
}

// testEngine returns an engine client and a local busybox base image, or
// skips without an engine.
func testEngine(t *testing.T) (*client.Client, string) {
	t.Helper()
	engine.once.Do(func() {
		c, err := registry.Connect(context.Background(), 5*time.Second)
		if err != nil {
			engine.skip = err.Error()
			return
		}
		engine.cli = c
		bb, err := os.ReadFile("/bin/busybox")
		if err != nil {
			engine.err = fmt.Errorf("the Docker tests need a static busybox at /bin/busybox (apt-get install busybox-static): %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "tug-image-base-")
		if err != nil {
			engine.err = err
			return
		}
		defer os.RemoveAll(dir)
		os.WriteFile(filepath.Join(dir, "busybox"), bb, 0o755)
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nLABEL "+testLabel+"\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"), 0o644)
		b, _ := NewBuilder(Options{Client: c, LookupEnv: noEnv})
		res, err := b.Build(context.Background(), Request{Name: fmt.Sprintf("tug-image-test-busybox-%d", os.Getpid()), Context: dir, Tag: "base"}, &bytes.Buffer{})
		engine.base, engine.err = res.Ref, err
	})
	if engine.skip != "" {
		t.Skipf("no Docker engine: %s", engine.skip)
	}
	if engine.err != nil {
		t.Fatal(engine.err)
	}
	return engine.cli, engine.base
}

func noEnv(string) (string, bool) { return "", false }

func envWith(kv ...string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == k {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if engine.cli != nil {
		// Every image these tests built, the base last.
		ctx := context.Background()
		imgs, _ := engine.cli.ImageList(ctx, image.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", testLabel))})
		for _, im := range imgs {
			engine.cli.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true})
		}
		engine.cli.Close()
	}
	os.Exit(code)
}

// seedShape is the multi-stage Dockerfile the seed's projects use: a
// builder stage that copies the source in and builds, then a minimal
// runtime stage that copies the result from it and runs as non-root. The
// builder checks that the context held neither the state directory nor
// what .dockerignore leaves out.
func seedShape(base string) string {
	return `FROM ` + base + ` AS build
LABEL ` + testLabel + `
ARG GREETING=unset
WORKDIR /src
COPY . .
RUN test ! -e .tug && test ! -e secret.txt && test -f app.sh && echo "greeting is $GREETING" && \
    mkdir -p /out && cp app.sh /out/app && chmod 755 /out/app

FROM scratch AS runtime
LABEL ` + testLabel + `
COPY --from=build /out/app /app
USER 65532
ENTRYPOINT ["/app"]
`
}

// classicShape is seedShape in as few steps as it can be.
func classicShape(base string) string {
	return `FROM ` + base + ` AS build
ARG GREETING=unset
WORKDIR /src
COPY . .
RUN test ! -e .tug && test ! -e secret.txt && echo "greeting is $GREETING" && mkdir -p /out && cp app.sh /out/app

FROM scratch
COPY --from=build /out/app /app
USER 65532
`
}

func seedContext(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":       seedShape(base),
		".dockerignore":    "secret.txt\n",
		"app.sh":           "#!/bin/sh\necho app\n",
		"secret.txt":       "not for the image",
		".tug/secrets.env": "TOKEN=hunter2",
	})
	return dir
}

// TestBuildSeedShapeWithBothBuilders builds the multi-stage shape with
// BuildKit and with the classic builder, tagged with the commit and
// labelled with it, with build args and a target. The classic builder
// commits a container per step (seconds each on this engine), so its
// Dockerfile has the same stages in fewer steps.
func TestBuildSeedShapeWithBothBuilders(t *testing.T) {
	cli, base := testEngine(t)
	for _, kit := range []string{"1", "0"} {
		t.Run("DOCKER_BUILDKIT="+kit, func(t *testing.T) {
			dir := seedContext(t, base)
			if kit == "0" {
				writeFiles(t, dir, map[string]string{"Dockerfile": classicShape(base)})
			}
			b, err := NewBuilder(Options{Client: cli, LookupEnv: envWith("DOCKER_BUILDKIT", kit)})
			if err != nil {
				t.Fatal(err)
			}
			out := &testkit.SyncBuffer{}
			name := fmt.Sprintf("tug-image-test-seed-%s-%d", kit, os.Getpid())
			res, err := b.Build(context.Background(), Request{
				Name: name, Context: dir, Tag: "0123abcd", Args: map[string]string{"GREETING": "hello-from-args"},
				Labels: map[string]string{"tug.test": strings.TrimPrefix(testLabel, "tug.test=")},
			}, out)
			if err != nil {
				t.Fatalf("build: %v\n%s", err, out)
			}
			if res.Ref != name+":0123abcd" || res.Digest != "" || !strings.HasPrefix(res.ImageID, "sha256:") || res.Pin() != res.ImageID {
				t.Errorf("result %+v", res)
			}
			if !strings.Contains(out.String(), "greeting is hello-from-args") {
				t.Errorf("the build's output lacks the RUN step's line:\n%s", out)
			}
			if want := map[string]string{"0": "classic builder", "1": "BuildKit"}[kit]; !strings.Contains(out.String(), want) {
				t.Errorf("output does not say it used the %s:\n%s", want, out)
			}
			insp, err := cli.ImageInspect(context.Background(), res.Ref)
			if err != nil {
				t.Fatal(err)
			}
			if insp.Config.Labels[LabelRevision] != "0123abcd" || insp.Config.User != "65532" || insp.ID != res.ImageID {
				t.Errorf("image: labels %v, user %q, id %s", insp.Config.Labels, insp.Config.User, insp.ID)
			}
			// The builder stage as target: its image has the sources.
			res, err = b.Build(context.Background(), Request{Name: name + "-build", Context: dir, Tag: "t", Target: "build"}, out)
			if err != nil {
				t.Fatalf("build --target build: %v\n%s", err, out)
			}
			insp, _ = cli.ImageInspect(context.Background(), res.Ref)
			if insp.Config.WorkingDir != "/src" {
				t.Errorf("target build: working dir %q", insp.Config.WorkingDir)
			}
		})
	}
}

// TestBuildFailureSaysWhy: a failing step fails the build with the
// builder's message, and no image is tagged.
func TestBuildFailureSaysWhy(t *testing.T) {
	cli, base := testEngine(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM " + base + "\nLABEL " + testLabel + "\nRUN echo about to fail && exit 3\n"})
	b, _ := NewBuilder(Options{Client: cli, LookupEnv: noEnv})
	out := &testkit.SyncBuffer{}
	name := fmt.Sprintf("tug-image-test-fail-%d", os.Getpid())
	_, err := b.Build(context.Background(), Request{Name: name, Context: dir, Tag: "x"}, out)
	if err == nil || !strings.Contains(err.Error(), "exit code: 3") && !strings.Contains(err.Error(), "returned a non-zero code: 3") {
		t.Fatalf("err %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "about to fail") {
		t.Errorf("output lacks the failing step's line:\n%s", out)
	}
	if _, err := cli.ImageInspect(context.Background(), name+":x"); err == nil {
		t.Error("a failed build left a tagged image")
	}
	_, err = b.Build(context.Background(), Request{Name: name, Context: filepath.Join(dir, "nope"), Tag: "x"}, out)
	if err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("missing context: %v", err)
	}
}

// TestBuildPushFind: a build pushed to tug's registry gets its digest;
// Find then finds it by its tag, locally and, once the local image is
// gone, in the registry; an unknown tag is not found.
func TestBuildPushFind(t *testing.T) {
	cli, base := testEngine(t)
	reg, err := ociregistry.New(ociregistry.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	dir := seedContext(t, base)
	b, _ := NewBuilder(Options{Client: cli, LookupEnv: envWith("DOCKER_CONFIG", t.TempDir())})
	req := Request{Name: fmt.Sprintf("tugtest/push-%d", os.Getpid()), Registry: addr, Context: dir, Tag: "c0ffee"}
	out := &testkit.SyncBuffer{}
	res, err := b.Build(context.Background(), req, out)
	if err != nil {
		t.Fatalf("build and push: %v\n%s", err, out)
	}
	if res.Repository != addr+"/"+req.Name || !strings.HasPrefix(res.Digest, res.Repository+"@sha256:") || res.Pin() != res.Digest {
		t.Fatalf("result %+v", res)
	}
	found, ok, err := b.Find(context.Background(), req, out)
	if err != nil || !ok || found.Digest != res.Digest {
		t.Errorf("find (local): %+v %v %v", found, ok, err)
	}
	if _, err := cli.ImageRemove(context.Background(), res.Ref, image.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	found, ok, err = b.Find(context.Background(), req, out)
	if err != nil || !ok || found.Digest != res.Digest {
		t.Errorf("find (registry): %+v %v %v", found, ok, err)
	}
	other := req
	other.Tag = "deadbeef"
	if _, ok, err := b.Find(context.Background(), other, out); ok || err != nil {
		t.Errorf("find of an unbuilt tag: %v %v", ok, err)
	}
}
