package secret

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const testSecret = "s3cr3t/value+with&odd=chars"

func TestMaskForms(t *testing.T) {
	t.Parallel()
	m, warn := NewMasker(New(testSecret))
	if len(warn) != 0 {
		t.Fatalf("warnings: %v", warn)
	}
	b := []byte(testSecret)
	tests := []struct{ name, in string }{
		{"plain", "token=" + testSecret + " end"},
		{"std base64", "x " + base64.StdEncoding.EncodeToString(b)},
		{"raw std base64", base64.RawStdEncoding.EncodeToString(b)},
		{"url base64", base64.URLEncoding.EncodeToString(b)},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(b)},
		{"base64 shifted by 1", base64.StdEncoding.EncodeToString([]byte("a" + testSecret + "\n"))},
		{"base64 shifted by 2", base64.StdEncoding.EncodeToString([]byte("ab" + testSecret))},
		{"base64 shifted by 0 in longer text", base64.StdEncoding.EncodeToString([]byte("abc" + testSecret + "xyz"))},
		{"basic auth header", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+testSecret))},
		{"query escaped", "https://x/?t=" + url.QueryEscape(testSecret)},
		{"path escaped", "https://x/" + url.PathEscape(testSecret) + "/y"},
		{"twice", testSecret + testSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Mask(tt.in)
			if !strings.Contains(got, Mask) {
				t.Fatalf("Mask(%q) = %q: nothing masked", tt.in, got)
			}
			assertNoLeak(t, got, testSecret)
		})
	}
}

// assertNoLeak fails if out holds the secret in any form the masker hides.
func assertNoLeak(t *testing.T, out, secret string) {
	t.Helper()
	if strings.Contains(out, secret) {
		t.Fatalf("secret leaked plainly in %q", out)
	}
	for _, enc := range []string{url.QueryEscape(secret), url.PathEscape(secret)} {
		if strings.Contains(out, enc) {
			t.Fatalf("url-encoded secret leaked in %q", out)
		}
	}
	// Any 6-char window of any alignment's base64 core would be a leak.
	for shift := range 3 {
		buf := append(bytes.Repeat([]byte{0}, shift), secret...)
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			s := enc.EncodeToString(buf)
			core := s[(8*shift+5)/6 : 8*len(buf)/6]
			for i := 0; i+12 <= len(core); i++ {
				if strings.Contains(out, core[i:i+12]) {
					t.Fatalf("base64 (shift %d) of the secret leaked in %q", shift, out)
				}
			}
		}
	}
}

func TestMaskLeavesOtherTextAlone(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New("hunter2"))
	in := "nothing to see here\n"
	if got := m.Mask(in); got != in {
		t.Fatalf("Mask changed clean text: %q", got)
	}
}

func TestMaskOverlappingSecrets(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New("abcdef"), New("defghijk"))
	got := m.Mask("xx abcdefghijk yy")
	if got != "xx *** yy" {
		t.Fatalf("got %q, want overlapping secrets masked as one", got)
	}
}

func TestMaskShortValuesWarn(t *testing.T) {
	t.Parallel()
	m, warn := NewMasker(New("ab"), New(""), New("abc"))
	if len(warn) != 1 || !strings.Contains(warn[0], "2 secret") {
		t.Fatalf("warnings = %v, want one about 2 short values", warn)
	}
	if got := m.Mask("ab abc"); got != "ab ***" {
		t.Fatalf("got %q", got)
	}
}

func TestMaskMultiLineSecret(t *testing.T) {
	t.Parallel()
	key := "-----BEGIN KEY-----\nMIIBOgIBAAJBAKj34\n-----END KEY-----"
	m, _ := NewMasker(New(key))
	var out bytes.Buffer
	w := m.Writer(&out)
	// Written line by line, as a program printing the key would.
	for line := range strings.SplitSeq(key, "\n") {
		w.Write([]byte(line + "\n"))
	}
	w.Close()
	if strings.Contains(out.String(), "MIIBOgIBAAJBAKj34") {
		t.Fatalf("multi-line secret leaked: %q", out.String())
	}
}

func TestWriterSplitAcrossWrites(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New(testSecret))
	var out bytes.Buffer
	w := m.Writer(&out)
	line := "token " + testSecret + " done\n"
	for i := 1; i < len(line)-1; i++ {
		out.Reset()
		w := m.Writer(&out)
		w.Write([]byte(line[:i]))
		w.Write([]byte(line[i:]))
		w.Close()
		if got := out.String(); got != "token *** done\n" {
			t.Fatalf("split at %d: got %q", i, got)
		}
	}
	// Without a newline nothing goes out until Close.
	out.Reset()
	w.Write([]byte("partial " + testSecret[:5]))
	if out.Len() != 0 {
		t.Fatalf("unterminated line flushed early: %q", out.String())
	}
	w.Write([]byte(testSecret[5:]))
	w.Close()
	if got := out.String(); got != "partial ***" {
		t.Fatalf("got %q", got)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}

func TestWriterFlushesLongLinesWithoutSplittingSecrets(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New(testSecret))
	var out bytes.Buffer
	w := m.Writer(&out)
	filler := strings.Repeat("x", maxPending-3)
	// The secret straddles the point where the writer must flush.
	w.Write([]byte(filler + testSecret[:10]))
	w.Write([]byte(testSecret[10:] + strings.Repeat("y", 100)))
	if out.Len() == 0 {
		t.Fatal("more than 64 KiB held back without a newline")
	}
	if out.Len() > maxPending+200 {
		t.Fatalf("flushed %d bytes", out.Len())
	}
	w.Close()
	got := out.String()
	if strings.Contains(got, testSecret[:10]) || strings.Contains(got, testSecret[10:]) {
		t.Fatal("secret split by a forced flush leaked")
	}
	if want := filler + Mask + strings.Repeat("y", 100); got != want {
		t.Fatalf("output differs from the masked input (len %d, want %d)", len(got), len(want))
	}
}

func TestWriterConcurrent(t *testing.T) {
	t.Parallel()
	m, _ := NewMasker(New(testSecret))
	var out bytes.Buffer
	w := m.Writer(&out)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				w.Write([]byte("a " + testSecret + " b\n"))
			}
		})
	}
	wg.Wait()
	w.Close()
	if strings.Contains(out.String(), testSecret) || strings.Count(out.String(), "a *** b\n") != 800 {
		t.Fatal("concurrent writes not masked line by line")
	}
}
