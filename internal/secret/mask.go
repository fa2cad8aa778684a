package secret

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
)

// Mask replaces every secret occurrence in masked output.
const Mask = "***"

// MinLen is the shortest secret the masker hides: shorter values would
// blank out ordinary output and are reported back instead.
const MinLen = 3

// minEncodedLen bounds alignment-shifted base64 cores: shorter cores match
// too much unrelated text to be worth masking.
const minEncodedLen = 4

// Masker hides secret values, and the common encodings of them, in text.
// A Masker is immutable after NewMasker and safe for concurrent use.
type Masker struct {
	patterns []string // longest first, deduplicated, non-empty
	// decodable are the forms searched for in decoded text (see decode):
	// the value, its lines and its base64 forms, '+' folded to ' '.
	decodable []string
	// plus says whether a decodable form holds a space, so '+' in text
	// must be read as one.
	plus bool
	// longest bounds the text one occurrence can span, encoded or not.
	longest int
}

// NewMasker builds a masker for values. Values shorter than MinLen are
// not masked; the returned warnings say how many were left out (without
// printing them).
func NewMasker(values ...Value) (*Masker, []string) {
	seen, seenDecodable := map[string]bool{}, map[string]bool{}
	m := &Masker{}
	short := 0
	for _, v := range values {
		plainText := v.Reveal()
		if len(plainText) < MinLen {
			short++
			continue
		}
		for _, p := range variants(plainText) {
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			m.patterns = append(m.patterns, p)
			if f := foldString(p); !seenDecodable[f] {
				seenDecodable[f] = true
				m.decodable = append(m.decodable, f)
				m.plus = m.plus || strings.Contains(f, " ")
				m.longest = max(m.longest, encodedMaxRatio*len(p))
			}
		}
	}
	slices.SortFunc(m.patterns, func(a, b string) int { return len(b) - len(a) })
	var warnings []string
	if short > 0 {
		warnings = append(warnings, fmt.Sprintf("%d secret value(s) shorter than %d characters are not masked in output", short, MinLen))
	}
	return m, warnings
}

// variants lists the forms of v to hide: v itself, each line of a
// multi-line v (output is streamed by line), and its base64 encodings at
// every byte alignment. Each is also found URL-, JSON- or HTML-encoded
// (see decode).
func variants(v string) []string {
	out := []string{v}
	if strings.Contains(v, "\n") {
		for line := range strings.SplitSeq(v, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if len(line) >= MinLen {
				out = append(out, line)
			}
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(v)))
		raw := enc.WithPadding(base64.NoPadding)
		out = append(out, raw.EncodeToString([]byte(v)))
		// Inside a longer base64 text, v may start at any byte offset mod 3.
		// Encode v behind 0, 1 or 2 filler bytes and keep only the characters
		// whose 6 bits all come from v: those are the same whatever
		// surrounds v.
		for shift := range 3 {
			buf := make([]byte, shift+len(v))
			copy(buf[shift:], v)
			s := raw.EncodeToString(buf)
			start := (8*shift + 5) / 6
			end := 8 * len(buf) / 6
			if end-start >= minEncodedLen {
				out = append(out, s[start:end])
			}
		}
	}
	return out
}

// Mask returns s with every secret occurrence replaced by Mask.
func (m *Masker) Mask(s string) string {
	if m == nil || len(m.patterns) == 0 {
		return s
	}
	spans := m.spans(s)
	if len(spans) == 0 {
		return s
	}
	return apply(s, spans)
}

type span struct{ start, end int }

// spans finds every (possibly overlapping) occurrence of every pattern and
// merges them into disjoint, sorted ranges, so overlapping secrets are
// hidden as a whole.
func (m *Masker) spans(s string) []span {
	var found []span
	for _, p := range m.patterns {
		if len(p) > len(s) {
			continue
		}
		for off := 0; ; {
			i := strings.Index(s[off:], p)
			if i < 0 {
				break
			}
			found = append(found, span{off + i, off + i + len(p)})
			off += i + 1
		}
	}
	found = append(found, decodedSpans(s, m.decodable, m.plus)...)
	if len(found) == 0 {
		return nil
	}
	slices.SortFunc(found, func(a, b span) int { return a.start - b.start })
	merged := found[:1]
	for _, sp := range found[1:] {
		last := &merged[len(merged)-1]
		if sp.start <= last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

func apply(s string, spans []span) string {
	var b strings.Builder
	b.Grow(len(s))
	prev := 0
	for _, sp := range spans {
		b.WriteString(s[prev:sp.start])
		b.WriteString(Mask)
		prev = sp.end
	}
	b.WriteString(s[prev:])
	return b.String()
}
