package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// safeName turns a job or run name ("unit[go=1.26]") into one file name
// component, reversibly and without collisions: bytes outside
// [A-Za-z0-9_.-] (and a leading dot) become %XX. Very long names are cut
// and suffixed with a hash of the whole name.
func safeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || (c == '.' && i > 0)
		if ok {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	out := b.String()
	if out == "" {
		return "%00"
	}
	if len(out) > 180 {
		sum := sha256.Sum256([]byte(s))
		out = out[:160] + "~" + hex.EncodeToString(sum[:8])
	}
	return out
}

// shortKey is how a key is shown to people: 12 hex digits, like an image ID.
func shortKey(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// entryLabel names a cache entry in eviction and prune reports.
func entryLabel(job, key string) string { return job + "@" + shortKey(key) }
