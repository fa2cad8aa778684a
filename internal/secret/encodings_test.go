package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"
)

// pyQuote is Python's urllib.parse.quote(s, safe): unreserved characters
// and those in safe stay, every other byte becomes %XX (upper case hex).
func pyQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~"+safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// pyQuotePlus is urllib.parse.quote_plus: quote with spaces as '+' and
// '/' encoded too.
func pyQuotePlus(s string) string {
	return strings.ReplaceAll(pyQuote(s, " "), " ", "+")
}

// jsonASCII is a JSON string as Python's json.dumps (ensure_ascii) writes
// it: non-ASCII as \uXXXX, surrogate pairs beyond the BMP.
func jsonASCII(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r > 0x7e && r < 0x10000:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r >= 0x10000:
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func goJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Every common way a program re-encodes a value before printing it is
// masked: percent-encoding of any subset of bytes (in either hex case),
// '+' for space, JSON and JavaScript string escapes, HTML entities, and
// each of those over the value's base64 form.
func TestMaskCommonEncodings(t *testing.T) {
	t.Parallel()
	const special = `s3cr3t/value+with&odd=chars <"q'> é😀`
	b64 := base64.StdEncoding.EncodeToString([]byte("\xfb\xef\xbe\xff\xfe\xfd binary token \x00\x01\xfa"))
	for _, tt := range []struct {
		name, secret, shown string
	}{
		{"python quote", special, pyQuote(special, "/")},
		{"python quote, nothing safe", special, pyQuote(special, "")},
		{"python quote_plus", special, pyQuotePlus(special)},
		{"python quote of base64", b64, pyQuote(b64, "/")},
		{"python quote of base64, lower-case hex", b64, strings.NewReplacer("%2B", "%2b", "%2F", "%2f", "%3D", "%3d").Replace(pyQuote(b64, ""))},
		{"quote_plus of base64", b64, pyQuotePlus(b64)},
		{"only some bytes encoded", special, strings.NewReplacer("/", "%2F", "=", "%3d").Replace(special)},
		{"go json", special, goJSON(special)},
		{"go json of base64", b64, goJSON(b64)},
		{"json ensure_ascii", special, jsonASCII(special)},
		{"json with escaped slashes", special, strings.ReplaceAll(goJSON(special), "/", `\/`)},
		{"json \\u0026 alone", "user&pass=word", `{"dsn":"user\u0026pass=word"}`},
		{"javascript \\x escapes", "user&pass=word", `"user\x26pass\x3dword"`},
		{"html", special, html.EscapeString(special)},
		{"html numeric", "user&pass=word", "user&#38;pass&#x3D;word"},
		{"json inside query of base64", b64, pyQuote(goJSON(b64), "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, _ := NewMasker(New(tt.secret))
			line := "connecting with " + tt.shown + " now\n"
			got := m.Mask(line)
			if !strings.HasPrefix(got, "connecting with ") || !strings.HasSuffix(got, " now\n") || !strings.Contains(got, Mask) {
				t.Fatalf("Mask(%q) = %q", line, got)
			}
			if d, _ := decode(got, true); strings.Contains(got, tt.secret) || strings.Contains(d.text, foldString(tt.secret)) {
				t.Errorf("Mask(%q) = %q: the value is still there, decoded", line, got)
			}
			// Written in two pieces at every split point, as a process's
			// output may arrive.
			for i := 1; i < len(line); i++ {
				var out bytes.Buffer
				w := m.Writer(&out)
				w.Write([]byte(line[:i]))
				w.Write([]byte(line[i:]))
				w.Close()
				if out.String() != got {
					t.Fatalf("split at %d: %q, want %q", i, out.String(), got)
				}
			}
		})
	}
}

// Decoding for the search never masks text that only resembles a value.
func TestMaskEncodingsLeaveOtherTextAlone(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New("user&pass=word"))
	for _, in := range []string{
		"100% done, 50%2 and %zz and a trailing %",
		`json "a\u0026b" and "\uZZZZ" and "\ud83d" alone and \`,
		"html &amp; &#38; &#x; &bogus; &",
		"user pass word, user+pass+word, user&pass",
		"user%26pass%3Dwor",
	} {
		if got := m.Mask(in); got != in {
			t.Errorf("Mask(%q) = %q", in, got)
		}
	}
}
