package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/image"
	"github.com/tugdev/tug/internal/secret"
)

// fakeImages records the builds asked of it.
type fakeImages struct {
	mu   sync.Mutex
	reqs []image.Request
	fail error
}

func (f *fakeImages) Build(ctx context.Context, req image.Request, out io.Writer) (image.Result, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	fmt.Fprintf(out, "building with %s\n", req.Args["TOKEN"])
	if f.fail != nil {
		return image.Result{}, f.fail
	}
	repo, _, _ := image.Destination(req.Name, req.Registry)
	return image.Result{Repository: repo, Ref: repo + ":" + req.Tag, Digest: repo + "@sha256:0123"}, nil
}

// TestBuildImageJob: a build_image job builds the workspace's context
// tagged with the run's commit (-dirty when tracked files changed),
// pushes to tug's registry from the config, is never skipped by the
// cache, and its failure fails the job with the builder's reason.
func TestBuildImageJob(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil, nil,
		jdef{"image", &config.Job{Inputs: []string{"*.go"}, BuildImage: &config.ImageBuild{
			Name: "shop", Context: "svc", Dockerfile: "build/Dockerfile", Target: "runtime",
			Args: map[string]string{"TOKEN": "tok-secret-value"},
		}}},
		jdef{"after", &config.Job{Needs: []string{"image"}, Run: "echo after"}},
	)
	cfg.Server = &config.Server{Registry: &config.RegistryServer{Listen: "127.0.0.1:5000"}}
	plan := mustPlan(t, cfg)
	if plan.Registry != "127.0.0.1:5000" {
		t.Fatalf("plan registry %q", plan.Registry)
	}
	tr := newTestRun(t)
	git(t, tr.ro.Dir, "init", "-q")
	os.WriteFile(filepath.Join(tr.ro.Dir, "main.go"), []byte("package main\n"), 0o644)
	git(t, tr.ro.Dir, "add", ".")
	git(t, tr.ro.Dir, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
	tr.ro.Context.Commit = "c0ffee"
	tr.ro.Secrets = map[string]secret.Value{"T": secret.New("tok-secret-value")}
	imgs := &fakeImages{}
	tr.opts.ImageBuilder = imgs
	c := &fakeCache{hits: map[string]string{"image": "stale\n"}, saves: map[string]string{}}
	tr.opts.Cache = c
	res := tr.run(t, context.Background(), plan)
	if res.Status != StatusSuccess {
		t.Fatalf("%+v", res.Jobs)
	}
	if len(imgs.reqs) != 1 {
		t.Fatalf("builds %+v", imgs.reqs)
	}
	got := imgs.reqs[0]
	want := image.Request{Name: "shop", Registry: "127.0.0.1:5000", Context: filepath.Join(tr.ro.Dir, "svc"),
		Dockerfile: filepath.Join(tr.ro.Dir, "build/Dockerfile"), Target: "runtime", Tag: "c0ffee"}
	if got.Name != want.Name || got.Registry != want.Registry || got.Context != want.Context || got.Dockerfile != want.Dockerfile || got.Target != want.Target || got.Tag != want.Tag {
		t.Errorf("request\n got %+v\nwant %+v", got, want)
	}
	logs := strings.Join(tr.rec.logs("image"), "\n")
	if !strings.Contains(logs, "127.0.0.1:5000/shop@sha256:0123") || strings.Contains(logs, "tok-secret-value") {
		t.Errorf("log %q: want the pinned digest, and the secret masked", logs)
	}
	if got := jobResult(t, res, "image"); got.Status != StatusSuccess || got.Cache != nil && got.Cache.Hit {
		t.Errorf("image job %+v: the cache must not skip an image build", got)
	}

	// A changed tracked file: the tag says the image is not the commit's.
	os.WriteFile(filepath.Join(tr.ro.Dir, "main.go"), []byte("package main // changed\n"), 0o644)
	tr2 := newTestRun(t)
	tr2.ro.Dir, tr2.ro.Context.Commit = tr.ro.Dir, "c0ffee"
	imgs.fail = errors.New("image build failed: RUN make: exit code 2")
	tr2.opts.ImageBuilder = imgs
	res = tr2.run(t, context.Background(), plan)
	if got := imgs.reqs[1].Tag; got != "c0ffee-dirty" {
		t.Errorf("tag of a changed workspace %q", got)
	}
	img := jobResult(t, res, "image")
	if img.Status != StatusFailed || !strings.Contains(img.Reason, "exit code 2") || jobResult(t, res, "after").Status != StatusSkipped {
		t.Errorf("failed build: %+v %+v", img, jobResult(t, res, "after"))
	}
	// Outside git the tag names the run.
	tr3 := newTestRun(t)
	imgs.fail = nil
	tr3.opts.ImageBuilder = imgs
	tr3.ro.Only = []string{"image"}
	tr3.run(t, context.Background(), plan)
	if got := imgs.reqs[2].Tag; got != "worktree-r1" {
		t.Errorf("tag outside git %q", got)
	}
	if !slices.ContainsFunc(imgs.reqs, func(r image.Request) bool { return r.Labels["tug.job"] == "image" }) {
		t.Errorf("labels %v", imgs.reqs[0].Labels)
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
