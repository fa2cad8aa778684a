package logs

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// ErrBadQuery marks a query parameter that cannot be understood; the
// message names the parameter.
var ErrBadQuery = errors.New("bad log query")

// DefaultLimit caps a search without an explicit limit.
const DefaultLimit = 1000

// Query selects lines. Service is required ("tug" and "proxy" are
// pseudo-services, see ServiceTug and ServiceProxy).
type Query struct {
	Service string
	Env     string
	// Since drops lines older than this time; zero keeps all.
	Since time.Time
	// Grep keeps only lines whose text matches; nil keeps all.
	Grep *regexp.Regexp
	// Limit keeps the newest Limit matches of a search (0: DefaultLimit).
	Limit int
	// After skips lines with ID <= After.
	After int64
	// until bounds a follow step: lines with ID <= until (0: no bound).
	until int64
	// untilAccess bounds a search in the access log (zero: its end);
	// afterAccess is where a follow resumes in it.
	untilAccess, afterAccess accessPos
}

// ParseQuery reads service, env, since, grep and limit from URL values.
// since is a duration back from now ("10m", "2h", "7d") or an RFC 3339
// time.
func ParseQuery(v url.Values, now time.Time) (Query, error) {
	q := Query{Service: strings.TrimSpace(v.Get("service")), Env: strings.TrimSpace(v.Get("env"))}
	if q.Service == "" {
		return Query{}, fmt.Errorf("%w: service: required (a service name, %q or %q)", ErrBadQuery, ServiceTug, ServiceProxy)
	}
	if s := v.Get("since"); s != "" {
		t, err := ParseSince(s, now)
		if err != nil {
			return Query{}, err
		}
		q.Since = t
	}
	if g := v.Get("grep"); g != "" {
		re, err := regexp.Compile(g)
		if err != nil {
			return Query{}, fmt.Errorf("%w: grep: %v", ErrBadQuery, err)
		}
		q.Grep = re
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return Query{}, fmt.Errorf("%w: limit: %q is not a non-negative integer", ErrBadQuery, l)
		}
		q.Limit = n
	}
	return q, nil
}

// ParseSince turns "10m", "36h", "7d" (back from now) or an RFC 3339
// time into the earliest time to show.
func ParseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: since: %q is neither a duration (10m, 2h, 7d) nor an RFC 3339 time", ErrBadQuery, s)
	}
	return now.Add(-d), nil
}

// ParseDuration is config.ParseDuration: durations as tug.yaml writes
// them, days and weeks included.
func ParseDuration(s string) (time.Duration, error) { return config.ParseDuration(s) }

// match reports whether l passes the parts of q SQL did not check.
func (q *Query) match(l *Line) bool {
	return q.Grep == nil || q.Grep.MatchString(l.Text)
}
