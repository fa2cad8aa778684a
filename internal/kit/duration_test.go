package kit

import (
	"errors"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/testkit"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, c := range testkit.DurationCases {
		got, err := ParseDuration(c.In)
		switch {
		case c.Err != "" && err == nil:
			t.Errorf("ParseDuration(%q) = %v, want error %q", c.In, got, c.Err)
		case c.Err != "" && (!errors.Is(err, ErrDuration) || !strings.Contains(err.Error(), c.Err)):
			t.Errorf("ParseDuration(%q) error = %v, want %q", c.In, err, c.Err)
		case c.Err == "" && (err != nil || got != c.Want):
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.In, got, err, c.Want)
		}
	}
}

// TestParseDurationEmpty: where a duration may be left out, "" means
// absent and never reaches the parser; where it does, it is refused.
func TestParseDurationEmpty(t *testing.T) {
	t.Parallel()
	if _, err := ParseDuration(""); err == nil || err.Error() != `invalid duration "": want a number and a unit (ns, us, ms, s, m, h, d, w, y), e.g. 30s, 5m, 1h30m, 7d` {
		t.Fatalf("ParseDuration(\"\") error = %v", err)
	}
}

// TestDurationPatternMatchesParser keeps the schema's pattern and the
// parser in step: the pattern accepts what parses (overflow aside).
func TestDurationPatternMatchesParser(t *testing.T) {
	t.Parallel()
	for _, c := range testkit.DurationCases {
		in := strings.TrimSpace(c.In)
		_, err := ParseDuration(in)
		if m := durationRE.MatchString(in); m != (err == nil) && !strings.Contains(c.Err, "too long") {
			t.Errorf("%q: pattern matches = %v, parser error = %v", in, m, err)
		}
	}
}
