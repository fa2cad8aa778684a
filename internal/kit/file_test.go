package kit

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWholeAndLeavesNoTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first\n", "second, longer\n"} {
		if err := WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, %v; want 0600", fi.Mode(), err)
	}
	assertOnly(t, dir, "state.json")
}

func TestWriteFileFromFailureLeavesOldContent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "table.json")
	if err := WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	for _, s := range []Sync{SyncAll, SyncFile, SyncNone} {
		err := WriteFileFrom(path, 0o644, s, func(w io.Writer) error {
			io.WriteString(w, "half of the new")
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("sync %d: err = %v, want %v", s, err, boom)
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("after failed writes: %q, want old", b)
	}
	assertOnly(t, dir, "table.json")
	if !IsTemp(TempPrefix+"x-123") || IsTemp("table.json") {
		t.Fatal("IsTemp does not tell temp files from others")
	}
}

func TestWriteFileMissingDirectory(t *testing.T) {
	t.Parallel()
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such"), nil, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want not exist", err)
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("directory holds %v, want %v", got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("directory holds %v, want %v", got, names)
		}
	}
}
