package config

import (
	"fmt"
	"strings"

	"github.com/tugdev/tug/internal/kit"
)

// interpolate expands ${VAR} and ${VAR:-default} from lookup, turns $$
// into $, and leaves ${{ ... }} (matrix and run-time expressions) and any
// other $ alone. Like the shell, ${VAR:-default} also applies the default
// when VAR is set but empty.
func interpolate(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{' && i+2 < len(s) && s[i+2] == '{':
			end := strings.Index(s[i:], "}}")
			if end < 0 {
				b.WriteString(s[i:])
				i = len(s)
				continue
			}
			b.WriteString(s[i : i+end+2])
			i += end + 2
		case next == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			expr := s[i+2 : i+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !kit.ValidEnvName(name) {
				return "", fmt.Errorf("invalid variable reference ${%s}: the name must match [A-Za-z_][A-Za-z0-9_]*", expr)
			}
			v, ok := lookup(name)
			switch {
			case hasDef && (!ok || v == ""):
				v = def
			case !ok:
				return "", fmt.Errorf("environment variable %q is not set (use ${%s:-default} for a default)", name, name)
			}
			b.WriteString(v)
			i += end + 1
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}
