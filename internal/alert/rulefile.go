package alert

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// RuleFile is one loaded Prometheus rule file.
type RuleFile struct {
	// Path is the file as found (joined to the config's directory when
	// the glob is relative).
	Path   string
	Groups []rulefmt.RuleGroup
}

// LoadRuleFiles expands globs (relative to dir) and parses every file they
// match in the format `promtool check rules` accepts. Errors name
// file:line:col. A glob matching nothing is an error, so a typo is not a
// silently empty rule set.
func LoadRuleFiles(dir string, globs []string) ([]RuleFile, error) {
	var out []RuleFile
	var errs []error
	seen := map[string]bool{}
	p := parser.NewParser(parser.Options{})
	for _, g := range globs {
		pattern := g
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(dir, pattern)
		}
		matches, err := doublestar.FilepathGlob(pattern)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: alert_files %q: %v", ErrRuleFile, g, err))
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, fmt.Errorf("%w: alert_files %q matches no file", ErrRuleFile, g))
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			if seen[m] {
				continue
			}
			seen[m] = true
			rf, err := parseRuleFile(m, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, rf)
		}
	}
	return out, errors.Join(errs...)
}

func parseRuleFile(path string, p parser.Parser) (RuleFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return RuleFile{}, fmt.Errorf("%w: %v", ErrRuleFile, err)
	}
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		var msgs []error
		for _, e := range errs {
			msgs = append(msgs, fmt.Errorf("%w: %s", ErrRuleFile, positioned(path, e)))
		}
		return RuleFile{}, errors.Join(msgs...)
	}
	for gi := range rgs.Groups {
		if s, ok := rgs.Groups[gi].Labels[LabelSeverity]; ok {
			rgs.Groups[gi].Labels[LabelSeverity], _ = Severity(s)
		}
		for ri := range rgs.Groups[gi].Rules {
			r := &rgs.Groups[gi].Rules[ri]
			if s, ok := r.Labels[LabelSeverity]; ok {
				r.Labels[LabelSeverity], _ = Severity(s)
			}
		}
	}
	return RuleFile{Path: path, Groups: rgs.Groups}, nil
}

// positioned rewrites rulefmt's and yaml's messages into path:line:col.
func positioned(path string, err error) string {
	// "12:7: group ..." from rulefmt's semantic errors; "yaml: line 5: ..."
	// (or yaml's type errors, "line 5: ...") from the decoder.
	reNodePos := regexp.MustCompile(`^(\d+):(\d+): (.*)$`)
	reYAMLLine := regexp.MustCompile(`(?s)^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)
	msg := err.Error()
	if m := reNodePos.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s:%s: %s", path, m[1], m[2], m[3])
	}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", path, m[1], strings.TrimSpace(m[2]))
	}
	return path + ": " + msg
}
