package kit

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DurationPattern is the one duration syntax, as a regular expression for
// the JSON Schema: "0", or numbers (decimals allowed) each with a unit,
// ns us µs ms s m h d (24h) w (7d) y (365d), e.g. 30s, 1h30m, 1.5d, 2w.
// It is Go's syntax plus Prometheus's d, w and y, without signs.
const DurationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w|y))+)$`

// DurationExamples is what the errors of ParseDuration suggest.
const DurationExamples = "e.g. 30s, 5m, 1h30m, 7d"

// ErrDuration is wrapped by every error of ParseDuration.
var ErrDuration = errors.New("invalid duration")

var (
	durationRE   = regexp.MustCompile(DurationPattern)
	bareNumberRE = regexp.MustCompile(`^[+-]?[0-9]*\.?[0-9]+$`)
	durPartRE    = regexp.MustCompile(`([0-9]+)(?:\.([0-9]+))?(ns|us|µs|ms|s|m|h|d|w|y)`)
)

// durationUnits are the units of the syntax.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond,
	"ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour,
	"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
}

// ParseDuration reads a duration as a user types one, in tug.yaml, a
// flag, a silence or an API parameter: see DurationPattern. Negative
// durations and bare numbers (seconds? milliseconds?) are refused, with
// the same words wherever they were typed.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if bareNumberRE.MatchString(s) {
		return 0, fmt.Errorf("%w %q: missing unit (%s)", ErrDuration, s, DurationExamples)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%w %q: must not be negative", ErrDuration, s)
	}
	if !durationRE.MatchString(s) {
		return 0, fmt.Errorf("%w %q: want a number and a unit (ns, us, ms, s, m, h, d, w, y), %s", ErrDuration, s, DurationExamples)
	}
	var total time.Duration
	for _, m := range durPartRE.FindAllStringSubmatch(s, -1) {
		unit := durationUnits[m[3]]
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > math.MaxInt64/int64(unit) {
			return 0, fmt.Errorf("%w %q: too long (at most %s)", ErrDuration, s, maxDuration)
		}
		part := time.Duration(n) * unit
		if m[2] != "" {
			// The fraction, rounded to the nanosecond: 1.5d is 36h.
			f, _ := strconv.ParseFloat("0."+m[2], 64)
			part += time.Duration(math.Round(f * float64(unit)))
		}
		if part < 0 || total > math.MaxInt64-part {
			return 0, fmt.Errorf("%w %q: too long (at most %s)", ErrDuration, s, maxDuration)
		}
		total += part
	}
	return total, nil
}

// maxDuration is the longest duration there is, in years.
const maxDuration = "292y"

// ParseSince turns a duration back from now ("10m", "36h", "7d", in the
// one syntax of ParseDuration) or an RFC 3339 time into the earliest
// time to show.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w, or an RFC 3339 time", err)
	}
	return now.Add(-d), nil
}
