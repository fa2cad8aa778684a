package alert

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tugdev/tug/internal/kit"
)

// Matchers select alerts by label; all must match.
type Matchers []*labels.Matcher

// Matches says whether every matcher matches lbls.
func (ms Matchers) Matches(lbls map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(lbls[m.Name]) {
			return false
		}
	}
	return true
}

// String prints the matchers as ParseMatchers reads them.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Name + m.Type.String() + strconv.Quote(m.Value)
	}
	return strings.Join(parts, ",")
}

// ParseMatchers reads a comma-separated list of label matchers such as
// `alertname=HighErrorRate,service=~"web.*"`: operators =, !=, =~ and !~,
// values bare or double-quoted, regexes anchored at both ends. Braces
// around the list are allowed.
func ParseMatchers(s string) (Matchers, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
	parts, err := splitMatchers(s)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no matchers: want e.g. alertname=HighErrorRate,service=~\"web.*\"", ErrInvalid)
	}
	var out Matchers
	for _, p := range parts {
		m, err := parseMatcher(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// splitMatchers splits on commas outside double quotes.
func splitMatchers(s string) ([]string, error) {
	var parts []string
	var cur strings.Builder
	inQuote, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case r == '\\' && inQuote:
			esc = true
		case r == '"':
			inQuote = !inQuote
		case r == ',' && !inQuote:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if inQuote {
		return nil, fmt.Errorf("%w: matchers %q: unterminated quote", ErrInvalid, s)
	}
	parts = append(parts, cur.String())
	out := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func parseMatcher(p string) (*labels.Matcher, error) {
	i := strings.IndexAny(p, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("%w: matcher %q: want name=value, name!=value, name=~regex or name!~regex", ErrInvalid, p)
	}
	name := strings.TrimSpace(p[:i])
	rest := p[i:]
	var t labels.MatchType
	switch {
	case strings.HasPrefix(rest, "=~"):
		t, rest = labels.MatchRegexp, rest[2:]
	case strings.HasPrefix(rest, "!~"):
		t, rest = labels.MatchNotRegexp, rest[2:]
	case strings.HasPrefix(rest, "!="):
		t, rest = labels.MatchNotEqual, rest[2:]
	case strings.HasPrefix(rest, "="):
		t, rest = labels.MatchEqual, rest[1:]
	default:
		return nil, fmt.Errorf("%w: matcher %q: unknown operator", ErrInvalid, p)
	}
	if !validLabelName(name) {
		return nil, fmt.Errorf("%w: matcher %q: invalid label name %q", ErrInvalid, p, name)
	}
	val := strings.TrimSpace(rest)
	if strings.HasPrefix(val, `"`) {
		u, err := strconv.Unquote(val)
		if err != nil {
			return nil, fmt.Errorf("%w: matcher %q: bad quoted value: %v", ErrInvalid, p, err)
		}
		val = u
	}
	m, err := labels.NewMatcher(t, name, val)
	if err != nil {
		return nil, fmt.Errorf("%w: matcher %q: %v", ErrInvalid, p, err)
	}
	return m, nil
}

// validLabelName: Prometheus's classic label names follow the rule of
// environment variable names.
func validLabelName(s string) bool { return kit.ValidEnvName(s) }
