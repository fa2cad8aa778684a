package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Patterns shared by the loader's error messages and the JSON Schema.
const (
	durationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d|w))+)$`
	byteSizePattern = `^([0-9]+|[0-9]+(\.[0-9]+)?\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB))$`
)

var (
	byteSizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*(B|kB|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$`)
	durationRE = regexp.MustCompile(durationPattern)
	// dayWeekRE finds the day and week parts Go's durations lack, as
	// Prometheus writes them (30d, 1w).
	dayWeekRE = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)(d|w)`)
)

// byteUnit is the number of bytes in one unit.
func byteUnit(u string) float64 {
	switch u {
	case "kB", "KB":
		return 1e3
	case "MB":
		return 1e6
	case "GB":
		return 1e9
	case "TB":
		return 1e12
	case "KiB":
		return 1 << 10
	case "MiB":
		return 1 << 20
	case "GiB":
		return 1 << 30
	case "TiB":
		return 1 << 40
	}
	return 1
}

// parseByteSize reads "5GiB", "512MiB", "10MB" or a plain count of bytes.
func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("invalid size %q: must not be negative", s)
		}
		return ByteSize(n), nil
	}
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a number with a unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 5GiB", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %v", s, err)
	}
	v := f * byteUnit(m[2])
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(v), nil
}

// parseDuration reads a Go duration and refuses negative ones and bare
// numbers, which are ambiguous.
func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if _, err := strconv.ParseFloat(s, 64); err == nil && s != "0" {
		return 0, fmt.Errorf("invalid duration %q: missing unit (e.g. 30s, 5m, 1h)", s)
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	if !durationRE.MatchString(s) {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 1h30m, 30d", s)
	}
	goForm := dayWeekRE.ReplaceAllStringFunc(s, func(m string) string {
		n, _ := strconv.ParseFloat(m[:len(m)-1], 64)
		hours := 24.0
		if m[len(m)-1] == 'w' {
			hours = 7 * 24
		}
		return strconv.FormatFloat(n*hours, 'f', -1, 64) + "h"
	})
	d, err := time.ParseDuration(goForm)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 1h30m, 30d", s)
	}
	return Duration(d), nil
}

// ParseDuration reads a duration as tug.yaml writes them (30s, 1h30m,
// 7d, 1w), for flags and query parameters that take the same form.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	return d.D(), err
}
