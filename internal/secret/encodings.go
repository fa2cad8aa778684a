package secret

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Programs often print a value re-encoded: percent-encoded by a URL
// library (which bytes get encoded differs between libraries, and between
// Python's quote and quote_plus, Go's QueryEscape and PathEscape), escaped
// in a JSON or JavaScript string (Go writes & as \u0026, Python non-ASCII
// as \u00e9, PHP / as \/), or as HTML entities. Listing every variant
// cannot work (any subset of bytes may be encoded), so the masker decodes
// the text once, searches the decoded text for the plain value (and its
// base64 forms), and masks the source bytes each match came from.

// encodedMaxRatio bounds how many bytes of text one byte of a value can
// take once encoded (&#x26; is 6, a 4-byte rune as &#x1F600; 9).
const encodedMaxRatio = 10

// decoded is a text with its escapes decoded: byte i of text came from
// the escape (or plain byte) starting at source offset from[i], which ends
// where the next byte's source begins.
type decoded struct {
	text string
	from []int
	n    int // source length
}

// end is where the source of text[i] ends.
func (d *decoded) end(i int) int {
	for j := i + 1; j < len(d.from); j++ {
		if d.from[j] != d.from[i] {
			return d.from[j]
		}
	}
	return d.n
}

// decode decodes every escape of the common encodings in s, wherever it
// is: %XX (either case), \uXXXX (with surrogate pairs), \xXX, \" \\ \/
// \' \b \f \n \r \t, HTML's &amp; &lt; &gt; &quot; &apos; &#N; &#xH;, and,
// with plus, '+' (a space in a query). Anything else (a '%' not followed
// by two hex digits, say) stays as it is. With plus, '+' is folded into
// ' ' (see fold): a decoded '+' and a literal one cannot be told from a
// space. ok is false, and nothing allocated, when s holds no escape.
func decode(s string, plus bool) (d decoded, ok bool) {
	special := `%\&`
	if plus {
		special = `%\&+`
	}
	next := func(i int) int { // the next escape at or after i, or -1
		for i < len(s) {
			k := strings.IndexAny(s[i:], special)
			if k < 0 {
				return -1
			}
			if _, n := escapeAt(s, i+k, plus); n > 0 {
				return i + k
			}
			i += k + 1
		}
		return -1
	}
	at := next(0)
	if at < 0 {
		return decoded{}, false
	}
	text := make([]byte, 0, len(s))
	d.from = make([]int, 0, len(s))
	d.n = len(s)
	plain := func(from, to int) {
		for i := from; i < to; i++ {
			c := s[i]
			if plus {
				c = fold(c)
			}
			text = append(text, c)
			d.from = append(d.from, i)
		}
	}
	var buf [utf8.UTFMax]byte
	for i := 0; i < len(s); {
		if at < 0 {
			plain(i, len(s))
			break
		}
		plain(i, at)
		r, n := escapeAt(s, at, plus)
		var b []byte
		if r < 0 {
			buf[0] = byte(-r - 1)
			b = buf[:1]
		} else {
			b = buf[:utf8.EncodeRune(buf[:], r)]
		}
		for _, c := range b {
			if plus {
				c = fold(c)
			}
			text = append(text, c)
			d.from = append(d.from, at)
		}
		i = at + n
		at = next(i)
	}
	d.text = string(text)
	return d, true
}

// escapeAt decodes the escape starting at s[i], returning what it stands
// for and its length (0: none). A raw byte b (from %XX or \xXX, which
// need not be a whole rune) comes back as -b-1.
func escapeAt(s string, i int, plus bool) (rune, int) {
	rest := s[i:]
	switch rest[0] {
	case '%':
		if b, ok := hexByte(rest[1:]); ok {
			return -rune(b) - 1, 3
		}
	case '+':
		if plus {
			return ' ', 1
		}
	case '\\':
		if len(rest) < 2 {
			return 0, 0
		}
		switch c := rest[1]; c {
		case 'u':
			u, ok := hex16(rest[2:])
			if !ok {
				return 0, 0
			}
			if !utf16.IsSurrogate(rune(u)) {
				return rune(u), 6
			}
			if len(rest) >= 12 && rest[6] == '\\' && rest[7] == 'u' {
				if lo, ok := hex16(rest[8:]); ok {
					if r := utf16.DecodeRune(rune(u), rune(lo)); r != utf8.RuneError {
						return r, 12
					}
				}
			}
		case 'x':
			if b, ok := hexByte(rest[2:]); ok {
				return -rune(b) - 1, 4
			}
		case '"', '\\', '/', '\'':
			return rune(c), 2
		case 'b':
			return '\b', 2
		case 'f':
			return '\f', 2
		case 'n':
			return '\n', 2
		case 'r':
			return '\r', 2
		case 't':
			return '\t', 2
		}
	case '&':
		end := strings.IndexByte(rest[:min(len(rest), 11)], ';')
		if end < 2 {
			return 0, 0
		}
		name := rest[1:end]
		switch name {
		case "amp":
			return '&', end + 1
		case "lt":
			return '<', end + 1
		case "gt":
			return '>', end + 1
		case "quot":
			return '"', end + 1
		case "apos":
			return '\'', end + 1
		}
		if name[0] != '#' || len(name) < 2 {
			return 0, 0
		}
		base, digits := 10, name[1:]
		if digits[0] == 'x' || digits[0] == 'X' {
			base, digits = 16, digits[1:]
		}
		n, err := strconv.ParseUint(digits, base, 21)
		if err == nil && digits != "" && digits[0] != '+' && utf8.ValidRune(rune(n)) {
			return rune(n), end + 1
		}
	}
	return 0, 0
}

func hexByte(s string) (byte, bool) {
	if len(s) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(s[0])
	lo, ok2 := unhex(s[1])
	return hi<<4 | lo, ok1 && ok2
}

func hex16(s string) (uint16, bool) {
	if len(s) < 4 {
		return 0, false
	}
	hi, ok1 := hexByte(s)
	lo, ok2 := hexByte(s[2:])
	return uint16(hi)<<8 | uint16(lo), ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// fold maps '+' to ' ', in decoded text and in the values searched for
// in it alike: in a query '+' is a space, elsewhere itself.
func fold(c byte) byte {
	if c == '+' {
		return ' '
	}
	return c
}

func foldString(s string) string {
	return strings.ReplaceAll(s, "+", " ")
}

// decodedSpans finds the patterns in s's decoded text and returns the
// source spans they came from; plus says whether any pattern holds a
// space (see decode).
func decodedSpans(s string, patterns []string, plus bool) []span {
	d, ok := decode(s, plus)
	if !ok {
		return nil
	}
	var found []span
	for _, p := range patterns {
		if len(p) > len(d.text) {
			continue
		}
		for off := 0; ; {
			i := strings.Index(d.text[off:], p)
			if i < 0 {
				break
			}
			i += off
			found = append(found, span{d.from[i], d.end(i + len(p) - 1)})
			off = i + 1
		}
	}
	return found
}
