package secret

import (
	"strings"
	"testing"
)

// BenchmarkMask masks one log line with five secrets set: a plain line,
// one with escapes (decoded and searched a second time), and one whose
// '%' and '&' start no escape (searched once).
func BenchmarkMask(b *testing.B) {
	m, _ := NewMasker(New("hunter2-password"), New("sk_live_abcdefghijklmnop"), New("postgres://u:p@db/x"), New("AKIAIOSFODNN7EXAMPLE"), New("tok+en/=="))
	for _, tt := range []struct{ name, line string }{
		{"plain", strings.Repeat("plain log line with nothing special ", 5)},
		{"escapes", `{"level":"info","msg":"GET /api?x=1&amp;y=2 done","path":"\/a"} ` + strings.Repeat("z", 100)},
		{"no-escapes", `{"level":"info","msg":"GET /api?x=1&y=2 100% done","path":"/a"} ` + strings.Repeat("z", 100)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.line)))
			for b.Loop() {
				m.Mask(tt.line)
			}
		})
	}
}
