package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Parse: it must never panic, and it
// returns either a config or positioned errors matching ErrInvalid.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("tug.yaml", data, testOpts)
		if err == nil {
			if cfg == nil || cfg.Version != 1 {
				t.Fatalf("accepted without a version-1 config: %+v", cfg)
			}
			return
		}
		if cfg != nil {
			t.Fatal("config returned with an error")
		}
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("error does not match ErrInvalid: %v", err)
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			if !strings.HasPrefix(line, "tug.yaml:") {
				t.Fatalf("error line without the file: %q", line)
			}
		}
	})
}
