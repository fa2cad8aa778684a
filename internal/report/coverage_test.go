package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseCoverProfileFixture(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "cover.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseCoverProfile(f)
	if err != nil {
		t.Fatal(err)
	}
	// `go tool cover -func=cover.out` prints "total: (statements) 46.7%":
	// 7 of 15 statements, each block listed twice (-coverpkg, two test
	// binaries) and covered when either entry has a count.
	if s := fmt.Sprintf("%.1f", got); s != "46.7" {
		t.Errorf("coverage %.3f%%, want 46.7%% as go tool cover says", got)
	}
	if want := 7.0 / 15 * 100; math.Abs(got-want) > 1e-9 {
		t.Errorf("coverage %v, want %v", got, want)
	}
}

func TestParseCoverProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		profile string
		want    float64
	}{
		{"set mode", "mode: set\na.go:1.1,2.2 3 1\na.go:3.1,4.2 1 0\n", 75},
		{"duplicate block covered by a later entry", "mode: count\na.go:1.1,2.2 2 0\nb.go:1.1,2.2 2 0\na.go:1.1,2.2 2 5\n", 50},
		{"duplicates all zero", "mode: atomic\na.go:1.1,2.2 2 0\na.go:1.1,2.2 2 0\nb.go:1.1,2.2 2 1\n", 50},
		{"concatenated profiles repeat mode", "mode: set\na.go:1.1,2.2 1 1\nmode: set\nb.go:1.1,2.2 1 0\n", 50},
		{"colon and space in file name", "mode: set\nC:/src/my pkg/a.go:1.1,2.2 1 1\nC:/src/my pkg/a.go:3.1,4.2 3 0\n", 25},
		{"only a mode line", "mode: set\n", 0},
		{"blank lines and CRLF", "mode: set\r\n\r\na.go:1.1,2.2 1 1\r\n", 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCoverProfile(strings.NewReader(tt.profile))
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("coverage %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCoverProfileRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":                    "",
		"no mode line":             "a.go:1.1,2.2 1 1\n",
		"unknown mode":             "mode: fancy\n",
		"mixed modes":              "mode: set\nmode: count\n",
		"missing count":            "mode: set\na.go:1.1,2.2 1\n",
		"bad position":             "mode: set\na.go:1,2 1 1\n",
		"no file":                  "mode: set\n1.1,2.2 1 1\n",
		"negative count":           "mode: set\na.go:1.1,2.2 1 -1\n",
		"inconsistent statements":  "mode: set\na.go:1.1,2.2 1 1\na.go:1.1,2.2 2 1\n",
		"junit instead of profile": "<testsuites/>\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseCoverProfile(strings.NewReader(in)); !errors.Is(err, ErrBadReport) {
				t.Errorf("err = %v, want ErrBadReport", err)
			}
		})
	}
}
