package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/image"
)

// fakeImages builds by reading the Dockerfile it is given, and finds what
// it built (or what a pipeline pushed) by tag.
type fakeImages struct {
	mu      sync.Mutex
	pushed  map[string]string // tag -> digest
	builds  []image.Request
	content []string // the Dockerfile each build saw
	fail    error
}

func (f *fakeImages) Find(_ context.Context, req image.Request, _ io.Writer) (image.Result, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.pushed[req.Tag]
	return image.Result{Ref: req.Name + ":" + req.Tag, Digest: d}, ok, nil
}

func (f *fakeImages) Build(_ context.Context, req image.Request, out io.Writer) (image.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return image.Result{}, f.fail
	}
	b, err := os.ReadFile(filepath.Join(req.Context, "Dockerfile"))
	if err != nil {
		return image.Result{}, err
	}
	f.builds = append(f.builds, req)
	f.content = append(f.content, string(b))
	fmt.Fprintf(out, "built %s\n", req.Tag)
	d := fmt.Sprintf("127.0.0.1:5000/%s@sha256:%04d", req.Name, len(f.builds))
	f.pushed[req.Tag] = d
	return image.Result{Ref: req.Name + ":" + req.Tag, Digest: d}, nil
}

// TestBuildImageReleasePinsTheDigest: a build_image service's release
// builds its commit's files (never the working copy's changes), pushes
// and pins the digest; a deploy of a commit already built (by a pipeline)
// builds nothing and pins that digest; a failed build fails the release.
func TestBuildImageReleasePinsTheDigest(t *testing.T) {
	t.Parallel()
	svc := webService("rolling", "")
	svc.BuildImage = &config.ImageBuild{Name: "web", Args: map[string]string{"A": "1"}}
	cfg := configWith(svc)
	cfg.Server = &config.Server{Registry: &config.RegistryServer{Listen: "127.0.0.1:5000"}}
	h := newHarness(t, cfg)
	h.m.opts.Runtimes["docker"] = fakeDocker{h.rt}
	imgs := &fakeImages{pushed: map[string]string{}}
	h.m.opts.Images = imgs
	repo := h.m.opts.RepoDir
	run := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM scratch # committed\n"), 0o644)
	run("add", ".")
	run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one")
	commit := run("rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte("FROM scratch # not committed\n"), 0o644)

	rel := h.mustDeploy("")
	if len(imgs.builds) != 1 || imgs.content[0] != "FROM scratch # committed\n" {
		t.Fatalf("builds %+v saw %q, want one of the committed Dockerfile", imgs.builds, imgs.content)
	}
	b := imgs.builds[0]
	if b.Tag != commit || b.Registry != "127.0.0.1:5000" || b.Name != "web" || b.Args["A"] != "1" {
		t.Errorf("build request %+v", b)
	}
	if rel.Digest != "127.0.0.1:5000/web@sha256:0001" || rel.Revision != commit {
		t.Errorf("release %+v", rel)
	}
	h.rt.mu.Lock()
	started := h.rt.starts[0].Image
	h.rt.mu.Unlock()
	if started != rel.Digest {
		t.Errorf("started %q, want the pinned digest", started)
	}
	if _, err := os.Stat(filepath.Join(h.m.opts.StateDir, "releases", rel.ID+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the build's export is left behind: %v", err)
	}

	// The same commit again (as after a pipeline pushed it): found, not built.
	rel2 := h.mustDeploy("")
	if len(imgs.builds) != 1 || rel2.Digest != rel.Digest {
		t.Errorf("second deploy of the commit: %d builds, pins %q", len(imgs.builds), rel2.Digest)
	}

	// A build that fails fails the release, with the builder's reason.
	run("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "two")
	imgs.fail = errors.New("image build failed: RUN make: exit code 2")
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "exit code 2") {
		t.Errorf("failed build: %v", err)
	}
	// Without a builder the deploy says so.
	h.m.opts.Images = nil
	if _, err := h.deploy(""); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "no image builder") {
		t.Errorf("no builder: %v", err)
	}
}
