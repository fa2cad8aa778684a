package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func contextNames(t *testing.T, dir, dockerfile string, extra map[string]string) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := writeContext(&buf, dir, dockerfile, extra); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	slices.Sort(names)
	return names
}

// TestContextFollowsDockerignore: the context leaves out what
// .dockerignore says (with ** and ! exceptions, a directory taking its
// contents along), never sends the state directory, keeps the Dockerfile
// and .dockerignore whatever they match, and sends a symlink as a link.
func TestContextFollowsDockerignore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile":         "FROM scratch\n",
		".dockerignore":      "# comment\n*.log\n/build\n**/*.tmp\nDockerfile\ndocs\n!docs/keep.md\n",
		"main.go":            "package main\n",
		"app.log":            "x",
		"build/out":          "x",
		"sub/a.tmp":          "x",
		"sub/b.go":           "x",
		"docs/skip.md":       "x",
		"docs/keep.md":       "x",
		".tug/secrets.env":   "TOKEN=hunter2",
		"sub/.tug/not-state": "x", // only the top .tug is the state directory
	})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got := contextNames(t, dir, "Dockerfile", map[string]string{".tug-Dockerfile": filepath.Join(dir, "main.go")})
	want := []string{".dockerignore", ".tug-Dockerfile", "Dockerfile", "docs/keep.md", "link", "main.go", "sub/", "sub/.tug/", "sub/.tug/not-state", "sub/b.go"}
	if !slices.Equal(got, want) {
		t.Errorf("context\n got %v\nwant %v", got, want)
	}
	var buf bytes.Buffer
	writeContext(&buf, dir, "Dockerfile", nil)
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "link" && (h.Typeflag != tar.TypeSymlink || h.Linkname != "/etc/passwd" || h.Size != 0) {
			t.Errorf("symlink sent as %+v, want a link", h)
		}
	}
}

func TestDestination(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, registry, repo string
		push                 bool
	}{
		{"shop", "127.0.0.1:5000", "127.0.0.1:5000/shop", true},
		{"team/shop", "0.0.0.0:5001", "127.0.0.1:5001/team/shop", true},
		{"shop", "", "shop", false},
		{"team/shop", "", "team/shop", false},
		{"registry.example.com/team/shop", "127.0.0.1:5000", "registry.example.com/team/shop", true},
		{"localhost:5000/shop", "", "localhost:5000/shop", true},
		{"localhost/shop", "", "localhost/shop", true},
	} {
		repo, push, err := Destination(tt.name, tt.registry)
		if err != nil || repo != tt.repo || push != tt.push {
			t.Errorf("Destination(%q, %q) = %q %v %v, want %q %v", tt.name, tt.registry, repo, push, err, tt.repo, tt.push)
		}
	}
	if _, _, err := Destination("Bad Name", ""); err == nil {
		t.Error("a bad name: want an error")
	}
}

// TestBuildSaysWhenTugsRegistryIsDown: a build for tug's registry fails
// at once, before building, saying the server serves the registry.
func TestBuildSaysWhenTugsRegistryIsDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	b, err := NewBuilder(Options{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var out bytes.Buffer
	_, err = b.Build(context.Background(), Request{Name: "shop", Registry: addr, Context: t.TempDir(), Tag: "abc"}, &out)
	if err == nil || !strings.Contains(err.Error(), "start `tug server`") || out.Len() != 0 {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}
