package cache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The "dir/**" fast path selects exactly what the glob walk selects.
func TestWalkTreeMatchesGlobWalk(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.write("src/a.txt", "a", 0o644)
	f.write("src/deep/er/b.txt", "b", 0o644)
	f.write("src/.git/config", "hidden", 0o644)
	f.write("src/.tug/x", "hidden", 0o644)
	f.write("other/c.txt", "c", 0o644)
	if err := os.Symlink("../other", filepath.Join(f.ws, "src", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(f.ws, "src", "alink")); err != nil {
		t.Fatal(err)
	}
	w := newWorkspaceFS(f.ws, f.state)
	fast, err := expand(w, f.ws, []string{"src/**"})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := expand(w, f.ws, []string{"{src}/**"}) // not literal: glob walk
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fast, slow) || len(fast) < 3 {
		t.Fatalf("fast path %v, glob walk %v", fast, slow)
	}
	for _, pat := range []string{"nosuch/**", "src/a.txt/**"} {
		fast, err1 := expand(w, f.ws, []string{pat})
		slow, err2 := expand(w, f.ws, []string{"{" + pat[:len(pat)-3] + "}/**"})
		if (err1 == nil) != (err2 == nil) || !slices.Equal(fast, slow) {
			t.Fatalf("%s: fast %v %v, glob %v %v", pat, fast, err1, slow, err2)
		}
	}
}
