package config

import (
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "a", "EMPTY": "", "N": "42"}[k]
		return v, ok
	}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "a"},
		{in: "x-${A}-${N}", want: "x-a-42"},
		{in: "${B:-dflt}", want: "dflt"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${A:-dflt}", want: "a"},
		{in: "${B:-}", want: ""},
		{in: "${EMPTY}", want: ""},
		{in: "$$A and $$${A}", want: "$A and $a"},
		{in: "$A $ {A} 5$", want: "$A $ {A} 5$"},
		{in: "${{ matrix.go }}/${A}", want: "${{ matrix.go }}/a"},
		{in: "${B}", err: `environment variable "B" is not set (use ${B:-default} for a default)`},
		{in: "${A", err: "unterminated ${"},
		{in: "${}", err: "invalid variable reference"},
		{in: "${A B}", err: "invalid variable reference"},
	} {
		got, err := interpolate(tc.in, env)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("interpolate(%q) err = %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("interpolate(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ByteSize{
		"0": 0, "1024": 1024, "512MiB": 512 << 20, "5GiB": 5 << 30, "10MB": 10e6,
		"1.5KiB": 1536, "2 GB": 2e9, "1TiB": 1 << 40, "7B": 7, "3kB": 3000,
	} {
		if got, err := parseByteSize(in); err != nil || got != want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "5gb", "GiB", "1e3", "5 gigs", "99999999TiB", "1.KiB"} {
		if _, err := parseByteSize(in); err == nil {
			t.Errorf("parseByteSize(%q) accepted", in)
		}
	}
}
