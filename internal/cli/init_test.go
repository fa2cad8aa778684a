package cli

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateInit = flag.Bool("update-init", false, "rewrite testdata/init/*/tug.yaml.golden and report.golden")

// copyTree copies a fixture repository.
func copyFixture(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// runInit runs `tug init` (with extra args) in dir and returns its exit
// code, stdout and stderr.
func runInit(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"init"}, args...), Env{
		Stdout: &out, Stderr: &errOut,
		LookupEnv: func(string) (string, bool) { return "", false },
		Getwd:     func() (string, error) { return dir, nil },
	})
	return code, out.String(), errOut.String()
}

// TestInitGolden runs `tug init` on a small repository per stack (Go,
// Node, Python, a Dockerfile) and compares the tug.yaml it writes and
// what it says with the golden files; each written file passes `tug
// validate`, and a second init refuses to overwrite it.
func TestInitGolden(t *testing.T) {
	t.Parallel()
	stacks, err := filepath.Glob("testdata/init/*/repo")
	if err != nil || len(stacks) < 4 {
		t.Fatalf("fixtures %v %v", stacks, err)
	}
	for _, repo := range stacks {
		stack := filepath.Base(filepath.Dir(repo))
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "shop")
			copyFixture(t, repo, dir)
			code, out, errOut := runInit(t, dir)
			if code != 0 {
				t.Fatalf("tug init: exit %d\n%s%s", code, out, errOut)
			}
			got, err := os.ReadFile(filepath.Join(dir, "tug.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range []struct{ file, got string }{{"tug.yaml.golden", string(got)}, {"report.golden", out}} {
				golden := filepath.Join(filepath.Dir(repo), g.file)
				if *updateInit {
					os.WriteFile(golden, []byte(g.got), 0o644)
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update-init)", err)
				}
				if g.got != string(want) {
					t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", g.file, g.got, want)
				}
			}
			var vout, verr bytes.Buffer
			if code := Run(context.Background(), []string{"-f", filepath.Join(dir, "tug.yaml"), "validate"}, Env{
				Stdout: &vout, Stderr: &verr,
				LookupEnv: func(string) (string, bool) { return "", false },
				Getwd:     os.Getwd,
			}); code != 0 {
				t.Errorf("tug validate of what init wrote: exit %d\n%s%s", code, vout.String(), verr.String())
			}
			code, _, errOut = runInit(t, dir)
			if code != 2 || !strings.Contains(errOut, "already exists: tug init never overwrites a file") {
				t.Errorf("second init: exit %d, %s", code, errOut)
			}
			if again, _ := os.ReadFile(filepath.Join(dir, "tug.yaml")); !bytes.Equal(again, got) {
				t.Error("the second init changed tug.yaml")
			}
		})
	}
}
