package kit

import (
	"fmt"
	"slices"
	"strings"
)

// Suggest returns the one of valid that got is most likely a typo of, or
// "": the closest by edit distance (within a third of got's length, at
// least 2, and fewer edits than the candidate has letters), else the only
// candidate got is a prefix of ("prod" for "production"). Ties go to the
// alphabetically first, so messages are stable.
func Suggest(got string, valid []string) string {
	cands := slices.Clone(valid)
	slices.Sort(cands)
	best, bestD := "", -1
	for _, c := range cands {
		d := editDistance(got, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD <= 0 {
		return ""
	}
	limit := max(2, len([]rune(got))/3)
	if bestD <= limit && bestD < len([]rune(best)) {
		return best
	}
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

// DidYouMean is Suggest as the tail of an error message,
// ` (did you mean "x"?)`, or "" when nothing is close.
func DidYouMean(got string, valid []string) string {
	if s := Suggest(got, valid); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance counts the insertions, deletions, substitutions and swaps
// of neighbours (optimal string alignment) that turn a into b, so "unti"
// is one edit from "unit". Long strings are never typos of a name; their
// cost is bounded.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 256 || len(rb) > 256 {
		return max(len(ra), len(rb))
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
