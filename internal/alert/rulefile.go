package alert

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tugdev/tug/internal/config"
)

// RuleFile is one loaded Prometheus rule file.
type RuleFile struct {
	// Path is the file as found (joined to the config's directory when
	// the glob is relative).
	Path   string
	Groups []rulefmt.RuleGroup
}

// LoadRuleFiles expands globs (relative to dir) and parses every file they
// match in the format `promtool check rules` accepts. Each problem is a
// *RuleFileError: a *config.Error naming the rule file's line and column,
// or, for a glob matching nothing (a typo must not be a silently empty
// rule set), the alert_files entry of tug.yaml.
func LoadRuleFiles(dir string, globs []string) ([]RuleFile, error) {
	var out []RuleFile
	var errs []error
	seen := map[string]bool{}
	p := parser.NewParser(parser.Options{})
	for i, g := range globs {
		entry := fmt.Sprintf("alert_files[%d]", i)
		pattern := g
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(dir, pattern)
		}
		matches, err := doublestar.FilepathGlob(pattern)
		if err != nil {
			errs = append(errs, &RuleFileError{&config.Error{Path: entry, Msg: fmt.Sprintf("%q: %v", g, err)}})
			continue
		}
		if len(matches) == 0 {
			errs = append(errs, &RuleFileError{&config.Error{Path: entry, Msg: fmt.Sprintf("%q matches no file (relative to %s)", g, dir)}})
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

// RuleFileError is one problem with a Prometheus rule file. It matches
// ErrRuleFile and config.ErrInvalid; a Path without File names an entry
// of tug.yaml's alert_files, to be positioned by the config it came from.
type RuleFileError struct{ Err *config.Error }

// Is makes the error match ErrRuleFile and config.ErrInvalid.
func (e *RuleFileError) Is(target error) bool {
	return target == ErrRuleFile || target == config.ErrInvalid
}

// Unwrap gives the positioned error.
func (e *RuleFileError) Unwrap() error { return e.Err }

// Error reads like every config error, file:line:col first.
func (e *RuleFileError) Error() string {
	if e.Err.File == "" {
		return ErrRuleFile.Error() + ": " + e.Err.Path + ": " + e.Err.Msg
	}
	return ErrRuleFile.Error() + ": " + e.Err.Error()
}

func parseRuleFile(path string, p parser.Parser) (RuleFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return RuleFile{}, &RuleFileError{&config.Error{File: path, Msg: err.Error()}}
	}
	rgs, errs := rulefmt.Parse(b, false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		var list []error
		for _, e := range errs {
			list = append(list, &RuleFileError{positioned(path, e)})
		}
		return RuleFile{}, errors.Join(list...)
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

// positioned reads the line and column out of rulefmt's and yaml's
// messages: "12:7: group ..." from rulefmt's semantic checks, "yaml: line
// 5: ..." (or a type error's "line 5: ...") from the decoder.
func positioned(path string, err error) *config.Error {
	reNodePos := regexp.MustCompile(`^(\d+):(\d+): (.*)$`)
	reYAMLLine := regexp.MustCompile(`(?s)^yaml: (?:unmarshal errors:\s*)?line (\d+): (.*)$`)
	msg := err.Error()
	if m := reNodePos.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		return &config.Error{File: path, Pos: config.Pos{Line: line, Col: col}, Msg: m[3]}
	}
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &config.Error{File: path, Pos: config.Pos{Line: line}, Msg: strings.TrimSpace(m[2])}
	}
	return &config.Error{File: path, Msg: msg}
}
