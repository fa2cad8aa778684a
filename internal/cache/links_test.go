package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/pipeline"
)

// hostFile is a file outside the workspace a job must not get tug to
// read: it stands for /etc/hostname, ~/.ssh/id_ed25519 and the like.
func hostFile(t *testing.T) (dir, file, content string) {
	t.Helper()
	dir = t.TempDir()
	content = "host-only-" + filepath.Base(dir) + "\n"
	file = filepath.Join(dir, "hostname")
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, file, content
}

func (f *fixture) link(target, rel string) {
	f.t.Helper()
	p := filepath.Join(f.ws, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		f.t.Fatal(err)
	}
}

// blobsHold reports whether any stored blob contains s.
func (f *fixture) blobsHold(s string) bool {
	f.t.Helper()
	found := false
	filepath.WalkDir(filepath.Join(f.state, "cache", "blobs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if data, _ := os.ReadFile(p); strings.Contains(string(data), s) {
				found = true
			}
		}
		return nil
	})
	return found
}

// A job that links a host file (or directory) into its workspace and lists
// the link, or a path through it, as an artifact must not get tug to copy
// the host's file into the run: the save is refused with an error naming
// the link, and nothing of the host file is stored.
func TestArtifactLinksOutOfTheWorkspaceAreRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		artifacts []string
		setup     func(f *fixture, hostDir, hostFile string)
		want      string // the link the error names
	}{
		{"link to a host file", []string{"out/hn"}, func(f *fixture, _, file string) {
			f.link(file, "out/hn")
		}, "out/hn"},
		{"link to /etc/hostname", []string{"out/hn"}, func(f *fixture, _, _ string) {
			f.link("/etc/hostname", "out/hn")
		}, "out/hn"},
		{"relative link climbing out", []string{"out/hn"}, func(f *fixture, _, file string) {
			rel, err := filepath.Rel(filepath.Join(f.ws, "out"), file)
			if err != nil {
				f.t.Fatal(err)
			}
			f.link(rel, "out/hn")
		}, "out/hn"},
		{"dot-dot detour", []string{"out/hn"}, func(f *fixture, _, _ string) {
			f.link("../out/../../../../../../../../etc/hostname", "out/hn")
		}, "out/hn"},
		{"link inside a listed directory", []string{"out"}, func(f *fixture, _, file string) {
			f.write("out/ok.txt", "ok", 0o644)
			f.link(file, "out/deep/hn")
		}, "out/deep/hn"},
		{"link inside a globbed directory", []string{"out/**/*"}, func(f *fixture, _, file string) {
			f.link(file, "out/deep/hn")
		}, "out/deep/hn"},
		{"link to a host directory, listed", []string{"out"}, func(f *fixture, dir, _ string) {
			f.link(dir, "out/etc")
		}, "out/etc"},
		{"file under a link to a host directory", []string{"out/etc/hostname"}, func(f *fixture, dir, _ string) {
			f.link(dir, "out/etc")
		}, "out/etc"},
		{"glob under a link to a host directory", []string{"out/etc/*"}, func(f *fixture, dir, _ string) {
			f.link(dir, "out/etc")
		}, "out/etc"},
		{"tree under a link to a host directory", []string{"out/etc/**"}, func(f *fixture, dir, _ string) {
			f.link(dir, "out/etc")
		}, "out/etc"},
		{"the listed directory is the link", []string{"out/hostname"}, func(f *fixture, dir, _ string) {
			f.link(dir, "out")
		}, "out"},
		{"chain of links leaving at the end", []string{"out/a/hostname"}, func(f *fixture, dir, _ string) {
			f.link("b", "out/a")
			f.link(dir, "out/b")
		}, "out/a"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, Options{})
			hostDir, file, content := hostFile(t)
			tt.setup(f, hostDir, file)
			j := job("build", &config.Job{Artifacts: tt.artifacts})
			_, err := f.c.Save(context.Background(), f.req("r1", j), []byte("log"))
			if !errors.Is(err, pipeline.ErrOutsideWorkspace) {
				t.Fatalf("save: %v, want an error wrapping ErrOutsideWorkspace", err)
			}
			if !strings.Contains(err.Error(), tt.want+" ") {
				t.Errorf("error %q does not name %s", err, tt.want)
			}
			if _, err := f.c.Artifacts(context.Background(), "r1", "build"); !errors.Is(err, ErrNotFound) {
				t.Errorf("artifacts recorded: %v", err)
			}
			if f.blobsHold(content) {
				t.Error("the host file's content was stored")
			}
			hn, _ := os.ReadFile("/etc/hostname")
			if len(hn) > 0 && f.blobsHold(string(hn)) {
				t.Error("the host's /etc/hostname was stored")
			}
		})
	}
}

// A cacheable job's save is refused the same way, and no entry is left
// for a later run to restore.
func TestCacheSaveRefusesLinksOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	_, file, _ := hostFile(t)
	f.write("src/main.go", "package main", 0o644)
	j := job("build", &config.Job{Inputs: []string{"src/**"}, Artifacts: []string{"bin/**"}})
	req := f.req("r1", j)
	if res := f.lookup(req); res.Info.Hit {
		t.Fatal("hit on an empty cache")
	}
	f.link(file, "bin/app")
	if _, err := f.c.Save(context.Background(), req, nil); !errors.Is(err, pipeline.ErrOutsideWorkspace) {
		t.Fatalf("save: %v", err)
	}
	if res := f.lookup(f.req("r2", j)); res.Info.Hit {
		t.Fatal("a refused save left a cache entry")
	}
}

// Links that stay inside the workspace are kept as links (never as a copy
// of what they point at), and restored and exported as links; an
// absolute link into the workspace becomes a relative one.
func TestArtifactLinksInsideTheWorkspaceAreKeptAsLinks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("out/app-1.2", "binary", 0o755)
	f.write("lib/x.so", "lib", 0o644)
	f.link("app-1.2", "out/app")
	f.link("../lib", "out/lib")
	f.link(filepath.Join(f.ws, "out", "app-1.2"), "out/abs")
	f.link("../out/./app-1.2", "out/detour")
	f.link("nosuch", "out/dangling")
	f.write("src/main.go", "package main", 0o644)
	j := job("build", &config.Job{Inputs: []string{"src/**"}, Artifacts: []string{"out"}})
	f.run(f.req("r1", j), "log", nil)

	list, err := f.c.Artifacts(context.Background(), "r1", "build")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"out/app": "app-1.2", "out/lib": "../lib", "out/abs": "app-1.2", "out/detour": "../out/./app-1.2", "out/dangling": "nosuch", "out/app-1.2": ""}
	if len(list) != len(want) {
		t.Fatalf("artifacts %+v, want %v", list, want)
	}
	for _, a := range list {
		if l, ok := want[a.Path]; !ok || a.Link != l {
			t.Errorf("%s: link %q, want %q", a.Path, a.Link, l)
		}
		if a.Link != "" && (a.Blob != "" || a.Mode&fs.ModeSymlink == 0) {
			t.Errorf("%s: link stored as %+v", a.Path, a.Artifact)
		}
	}

	out := t.TempDir()
	if _, err := f.c.ExportArtifacts(context.Background(), "r1", "build", out); err != nil {
		t.Fatal(err)
	}
	for p, l := range want {
		if l == "" {
			continue
		}
		got, err := os.Readlink(filepath.Join(out, filepath.FromSlash(p)))
		if err != nil || got != l {
			t.Errorf("exported %s: %q %v, want a link to %q", p, got, err, l)
		}
	}
	if data, err := os.ReadFile(filepath.Join(out, "out", "app")); err != nil || string(data) != "binary" {
		t.Errorf("exported out/app reads %q %v", data, err)
	}

	// A cache hit restores the links too.
	os.RemoveAll(filepath.Join(f.ws, "out"))
	if res := f.lookup(f.req("r2", j)); !res.Info.Hit {
		t.Fatalf("miss: %s", res.Info.Miss)
	}
	if got, err := os.Readlink(filepath.Join(f.ws, "out", "lib")); err != nil || got != "../lib" {
		t.Errorf("restored out/lib: %q %v", got, err)
	}
	// Restoring over what is already there changes nothing.
	if res := f.lookup(f.req("r3", j)); !res.Info.Hit {
		t.Fatalf("miss: %s", res.Info.Miss)
	}
}

// Restoring and exporting never write through a link in the destination
// that leads out of it: a job cannot plant `out -> /somewhere` and have a
// later restore write there.
func TestRestoreNeverWritesThroughALinkOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("out/app", "binary", 0o755)
	j := job("build", &config.Job{Artifacts: []string{"out/app"}})
	f.save(f.req("r1", j), "log")

	hostDir := t.TempDir()
	os.RemoveAll(filepath.Join(f.ws, "out"))
	f.link(hostDir, "out")
	if err := f.c.Restore(context.Background(), "r1", "build", f.ws); err == nil {
		t.Error("restore through a link out of the workspace succeeded")
	}
	outDir := t.TempDir()
	if err := os.Symlink(hostDir, filepath.Join(outDir, "out")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.ExportArtifacts(context.Background(), "r1", "build", outDir); err == nil {
		t.Error("export through a link out of the directory succeeded")
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) > 0 {
		t.Fatalf("wrote into the linked directory: %v", ents)
	}

	// A link in the artifact's own place is replaced, not written through.
	_, file, content := hostFile(t)
	os.Remove(filepath.Join(f.ws, "out"))
	f.link(file, "out/app")
	if err := f.c.Restore(context.Background(), "r1", "build", f.ws); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(file); string(data) != content {
		t.Fatalf("host file now reads %q", data)
	}
	if got, _ := f.read("out/app"); got != "binary" {
		t.Fatalf("out/app reads %q", got)
	}
}

// A record whose link would climb out (written by hand or by an older
// tug) is refused as corrupt rather than restored.
func TestLinkRecordLeavingTheDirectoryIsCorrupt(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"../../etc/passwd", "/etc/passwd", ""} {
		a := Artifact{Path: "out/x", Mode: fs.ModeSymlink | 0o777, Link: target}
		if err := a.check(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("link %q: %v", target, err)
		}
	}
	if err := (Artifact{Path: "out/x", Mode: fs.ModeSymlink | 0o777, Link: "../y"}).check(); err != nil {
		t.Errorf("link inside: %v", err)
	}
}

// Inputs are only hashed, never stored: a pattern through a linked
// directory outside the workspace (a shared vendor tree) keys the job as
// before rather than failing it.
func TestInputsThroughALinkOutAreHashedNotRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	hostDir, _, _ := hostFile(t)
	f.link(hostDir, "vendor")
	f.write("main.go", "package main", 0o644)
	j := job("build", &config.Job{Inputs: []string{"main.go", "vendor/**", "vendor/hostname"}})
	res := f.run(f.req("r1", j), "log", nil)
	if res.Info.Key == "" {
		t.Fatalf("no key: %+v", res.Info)
	}
	if res := f.lookup(f.req("r2", j)); !res.Info.Hit {
		t.Fatalf("miss: %s", res.Info.Miss)
	}
}
