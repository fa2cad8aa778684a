package logs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
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

// Query checks p and turns it into a Query; since is a duration back
// from now ("10m", "2h", "7d") or an RFC 3339 time. Errors match
// ErrBadQuery and name the parameter.
func (p Params) Query(now time.Time) (Query, error) {
	q := Query{Service: strings.TrimSpace(p.Service), Env: strings.TrimSpace(p.Env)}
	if q.Service == "" {
		return Query{}, fmt.Errorf("%w: service: required (a service name, %q or %q)", ErrBadQuery, ServiceTug, ServiceProxy)
	}
	if p.Since != "" {
		t, err := ParseSince(p.Since, now)
		if err != nil {
			return Query{}, fmt.Errorf("%w: since: %w", ErrBadQuery, err)
		}
		q.Since = t
	}
	if p.Grep != "" {
		re, err := regexp.Compile(p.Grep)
		if err != nil {
			return Query{}, fmt.Errorf("%w: grep: %v", ErrBadQuery, err)
		}
		q.Grep = re
	}
	if p.Limit < 0 {
		return Query{}, fmt.Errorf("%w: limit: %d is not a non-negative integer", ErrBadQuery, p.Limit)
	}
	q.Limit = p.Limit
	return q, nil
}

// ParseSince is kit.ParseSince: a duration back from now or an RFC 3339
// time.
func ParseSince(s string, now time.Time) (time.Time, error) { return kit.ParseSince(s, now) }

// match reports whether l passes the parts of q SQL did not check.
func (q *Query) match(l *Line) bool {
	return q.Grep == nil || q.Grep.MatchString(l.Text)
}
