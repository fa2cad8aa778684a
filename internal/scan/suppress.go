package scan

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tugdev/tug/internal/config"
)

// inlineRe is an inline suppression in a comment:
//
//	# tug:ignore TUG-DF-001[,RULE...] until 2027-01-31: why it is fine
var inlineRe = regexp.MustCompile(`tug:ignore\s+([A-Za-z0-9_.,:-]+)(?:\s+until\s+(\S+))?\s*(?::\s*(.*))?$`)

// dateLayout is the date of a suppression's expiry.
const dateLayout = "2006-01-02"

// suppressor drops suppressed findings and reports suppressions that
// cannot be honoured (no reason, a bad or past expiry).
type suppressor struct {
	root    string
	now     time.Time
	ignores []*config.ScanIgnore
	lines   map[string][]string
	extra   []Finding
	seen    map[string]bool
}

func newSuppressor(root string, now time.Time, ignores []*config.ScanIgnore) *suppressor {
	return &suppressor{root: root, now: now, ignores: ignores, lines: map[string][]string{}, seen: map[string]bool{}}
}

// fileLines reads a scanned file's lines once (only files with findings
// are read).
func (s *suppressor) fileLines(rel string) []string {
	if l, ok := s.lines[rel]; ok {
		return l
	}
	var out []string
	f, err := os.Open(filepath.Join(s.root, filepath.FromSlash(rel)))
	if err == nil {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		f.Close()
	}
	s.lines[rel] = out
	return out
}

// suppressed says whether f is suppressed by tug.yaml's scan.ignore or a
// comment on its line or the line above.
func (s *suppressor) suppressed(f *Finding) bool {
	for _, ig := range s.ignores {
		if ig.Fingerprint != "" && ig.Fingerprint != f.Fingerprint {
			continue
		}
		if ig.Rule != "" && ig.Rule != f.Rule {
			continue
		}
		if ig.Path != "" {
			if ok, _ := doublestar.Match(ig.Path, f.Path); !ok {
				continue
			}
		}
		if ig.Expires != "" {
			if t, err := time.Parse(dateLayout, ig.Expires); err == nil && !s.now.Before(t.AddDate(0, 0, 1)) {
				continue // expired: the finding is back
			}
		}
		return true
	}
	if f.Line <= 0 || f.Path == "" || f.Commit != "" {
		return false
	}
	lines := s.fileLines(f.Path)
	for _, ln := range []int{f.Line, f.Line - 1} {
		if ln < 1 || ln > len(lines) {
			continue
		}
		m := inlineRe.FindStringSubmatch(lines[ln-1])
		if m == nil {
			continue
		}
		rules := strings.Split(m[1], ",")
		if !slices.Contains(rules, f.Rule) && !slices.Contains(rules, "all") {
			continue
		}
		if bad := s.check(m[2], m[3]); bad != "" {
			key := fmt.Sprintf("%s:%d", f.Path, ln)
			if !s.seen[key] {
				s.seen[key] = true
				sf := misconfig("TUG-SUP-001", f.Path, ln, 1, key, bad)
				sf.fingerprint()
				s.extra = append(s.extra, sf)
			}
			return false
		}
		return true
	}
	return false
}

// check returns why an inline suppression cannot be honoured, or "".
func (s *suppressor) check(until, reason string) string {
	if strings.TrimSpace(reason) == "" {
		return "the suppression gives no reason (write `tug:ignore RULE until YYYY-MM-DD: reason`)"
	}
	if until == "" {
		return ""
	}
	t, err := time.Parse(dateLayout, until)
	if err != nil {
		return fmt.Sprintf("the suppression's expiry %q is not a date (YYYY-MM-DD)", until)
	}
	if !s.now.Before(t.AddDate(0, 0, 1)) {
		return fmt.Sprintf("the suppression expired on %s", until)
	}
	return ""
}

// filter returns the findings not suppressed, plus findings about broken
// suppressions.
func (s *suppressor) filter(fs []Finding) []Finding {
	out := fs[:0]
	for i := range fs {
		if !s.suppressed(&fs[i]) {
			out = append(out, fs[i])
		}
	}
	return append(out, s.extra...)
}
