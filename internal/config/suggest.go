package config

import (
	"fmt"
	"sort"
	"strings"
)

// didYouMean returns ` (did you mean "x"?)` when one of valid is close to
// got, and "" otherwise. Ties go to the alphabetically first candidate so
// messages are stable.
func didYouMean(got string, valid []string) string {
	if s := suggest(got, valid); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

func suggest(got string, valid []string) string {
	cands := append([]string(nil), valid...)
	sort.Strings(cands)
	best, bestD := "", -1
	for _, c := range cands {
		d := levenshtein(got, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD == 0 {
		return ""
	}
	limit := max(2, len([]rune(got))/3)
	if bestD <= limit && bestD < len([]rune(best)) {
		return best
	}
	// A short form of exactly one candidate ("prod" for "production").
	var prefixed []string
	for _, c := range cands {
		if len(got) >= 3 && strings.HasPrefix(c, got) {
			prefixed = append(prefixed, c)
		}
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// levenshtein is the edit distance between a and b over runes.
func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 256 || len(rb) > 256 {
		// Long strings are never typos of a key; keep the cost bounded.
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// Suggest is the did-you-mean rule of tug.yaml errors, shared so every
// room suggests names the same way: the closest of valid, or "".
func Suggest(got string, valid []string) string { return suggest(got, valid) }

// DidYouMean is Suggest formatted as ` (did you mean "x"?)`, or "".
func DidYouMean(got string, valid []string) string { return didYouMean(got, valid) }
