package scan

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// dpkgStatus lists a busybox below the fixture advisory's fix, and a
// package no advisory names.
const dpkgStatus = `Package: busybox
Status: install ok installed
Version: 1:1.30.1-6
Architecture: amd64

Package: base-files
Status: install ok installed
Version: 11.1+deb11u9
Architecture: amd64
`

// buildTestImage builds an image from scratch with a Debian package
// database and a Go binary that calls a vulnerable symbol, and removes
// it when the test ends. Nothing is pulled.
func buildTestImage(t *testing.T) (*client.Client, string) {
	t.Helper()
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := c.Ping(ctx); err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = "testdata/go-reachable"
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	app, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY status /var/lib/dpkg/status\nCOPY os-release /etc/os-release\nCOPY app /usr/local/bin/app\n"),
		"status":     []byte(dpkgStatus),
		"os-release": []byte("ID=debian\nVERSION_ID=\"11\"\n"),
		"app":        app,
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(files[name]))})
		tw.Write(files[name])
	}
	tw.Close()
	tag := fmt.Sprintf("tug-test-scan-%d:latest", os.Getpid())
	resp, err := c.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct{ Error string }
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if m.Error != "" {
			t.Fatalf("build: %s", m.Error)
		}
	}
	resp.Body.Close()
	t.Cleanup(func() {
		c.ImageRemove(context.Background(), tag, image.RemoveOptions{Force: true, PruneChildren: true})
		c.Close()
	})
	return c, tag
}

func TestImageScan(t *testing.T) {
	t.Parallel()
	_, tag := buildTestImage(t)
	src, err := NewDockerImages()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rep := run(t, Options{Images: []string{tag}, ImageSource: src, DB: testDB(t), Now: func() time.Time { return testNow }})
	got := briefs(rep.Findings)
	want := []string{
		"high DSA-test-busybox " + tag + " busybox@1:1.30.1-6 1:1.30.1-6+deb11u1",
		"high GO-2021-0113 " + tag + " golang.org/x/text@v0.3.6 v0.3.7",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings = %q, want %q (warnings %v)", got, want, rep.Warnings)
	}
	if len(rep.Targets) != 1 || !rep.Targets[0].Image {
		t.Fatalf("targets = %+v", rep.Targets)
	}
	var names []string
	for _, c := range rep.Targets[0].Components {
		names = append(names, c.Ecosystem+":"+c.Name)
	}
	for _, n := range []string{"Debian:busybox", "Debian:base-files", "Go:golang.org/x/text", "Go:stdlib"} {
		if !slices.Contains(names, n) {
			t.Errorf("the image's SBOM lacks %s: %v", n, names)
		}
	}
	var buf bytes.Buffer
	if err := WriteCycloneDX(&buf, rep.Targets[0], rep.Findings, "test", testNow); err != nil {
		t.Fatal(err)
	}
	validateJSON(t, compileSchema(t, "bom-1.5.schema.json", "spdx.schema.json", "jsf-0.82.schema.json"), buf.Bytes())

	// An image the engine lacks is a warning; nothing is pulled.
	rep = run(t, Options{Images: []string{"tug-test-scan-absent:never"}, ImageSource: src})
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return bytes.Contains([]byte(w), []byte("not found locally")) }) {
		t.Errorf("warnings = %q", rep.Warnings)
	}
}
