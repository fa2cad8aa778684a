package server

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The secrets entrypoint is copied once, and again only when the binary
// it copies changed.
func TestSecretsInitCopiesOnlyWhenChanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "tug")
	if err := os.WriteFile(src, []byte("v1"), 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	dst, err := secretsInit(state, src)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.Stat(dst)
	if again, err := secretsInit(state, src); err != nil || again != dst {
		t.Fatalf("second call: %q %v", again, err)
	}
	if second, _ := os.Stat(dst); !os.SameFile(first, second) {
		t.Error("an unchanged binary was copied again")
	}
	if err := os.WriteFile(src, []byte("v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := secretsInit(state, src); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "v2" {
		t.Errorf("copy holds %q after the binary changed, want v2", b)
	}
	if p, err := secretsInit(state, ""); p != "" || err != nil {
		t.Errorf("no binary: %q %v", p, err)
	}
}
