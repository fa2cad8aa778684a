// Package language is a stand-in for golang.org/x/text/language v0.3.6
// with the symbols GO-2021-0113 names; the scanner's tests need no
// download.
package language

// Tag is a language tag.
type Tag struct{ s string }

// String returns the tag's text.
func (t Tag) String() string { return t.s }

// Parse parses a BCP 47 tag (the vulnerable symbol). Like the real
// one it is too big to inline, so binaries keep its symbol.
//
//go:noinline
func Parse(s string) (Tag, error) { return Tag{s}, nil }

// Make returns the tag of s, ignoring errors (not vulnerable).
func Make(s string) Tag { return Tag{s} }
