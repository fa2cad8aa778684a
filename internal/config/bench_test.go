package config

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkParseLarge loads a 1000-job pipeline, far above a real file.
func BenchmarkParseLarge(b *testing.B) {
	var s strings.Builder
	s.WriteString("version: 1\npipelines:\n  ci:\n    jobs:\n")
	for i := range 1000 {
		fmt.Fprintf(&s, "      j%d:\n        run: echo %d\n        timeout: 1m\n", i, i)
		if i > 0 {
			fmt.Fprintf(&s, "        needs: [j%d]\n", i-1)
		}
	}
	data := []byte(s.String())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("tug.yaml", data, testOpts); err != nil {
			b.Fatal(err)
		}
	}
}
