// Package report reads the test reports jobs produce: JUnit XML and Go
// cover profiles.
package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ErrNoReport means a job declared reports but none of them exists.
var ErrNoReport = errors.New("no test report")

// ErrBadReport means a report file could not be understood.
var ErrBadReport = errors.New("bad test report")

// Summary is what a job's reports said.
type Summary struct {
	Passed, Failed, Skipped int
	// Failures names the failed (or errored) tests, "classname.name" or
	// "suite/name", in report order.
	Failures []string
	// Coverage is a percentage of statements, or nil without a coverage
	// profile.
	Coverage *float64
}

// add folds o's test counts into s.
func (s *Summary) add(o *Summary) {
	s.Passed += o.Passed
	s.Failed += o.Failed
	s.Skipped += o.Skipped
	s.Failures = append(s.Failures, o.Failures...)
}

// Summarize reads the JUnit files matching the junit patterns (doublestar
// globs relative to dir, which they cannot leave) and the Go cover
// profile at coverage (relative to dir unless absolute; "" for none). It
// returns nil when nothing is asked for, and an error naming the pattern
// or file when a declared report is missing or unreadable. Reports in
// dir are read inside it: a symlink a job left that leads out of it (to
// a key, the state directory) is refused, as is anything but a regular
// file.
func Summarize(dir string, junit []string, coverage string) (*Summary, error) {
	if len(junit) == 0 && coverage == "" {
		return nil, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("read reports: %w", err)
	}
	defer root.Close()
	sum := &Summary{}
	files, err := matchReports(root, dir, junit)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		s, err := parseJUnitFile(root, filepath.FromSlash(f), filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		sum.add(s)
	}
	if coverage != "" {
		in, name := root, coverage
		if filepath.IsAbs(coverage) {
			// Declared by tug.yaml's author outside the workspace: read
			// as it is; inside it, through root as any report.
			if rel, err := filepath.Rel(dir, coverage); err == nil && filepath.IsLocal(rel) {
				name = rel
			} else {
				in = nil
			}
		}
		pct, err := parseCoverFile(in, name, coverage)
		if err != nil {
			return nil, err
		}
		sum.Coverage = &pct
	}
	return sum, nil
}

// matchReports expands the patterns into files under dir, each once, in
// pattern order then name order. No match at all is an error.
func matchReports(root *os.Root, dir string, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nil, nil
	}
	fsys := root.FS()
	var files []string
	for _, p := range patterns {
		clean := path.Clean(filepath.ToSlash(p))
		if p == "" || path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, fmt.Errorf("%w: junit pattern %q must be relative to the workspace", ErrBadReport, p)
		}
		if !doublestar.ValidatePattern(clean) {
			return nil, fmt.Errorf("%w: junit pattern %q is not a valid glob", ErrBadReport, p)
		}
		m, err := doublestar.Glob(fsys, clean, doublestar.WithFilesOnly())
		if err != nil {
			return nil, fmt.Errorf("junit pattern %q: %w", p, err)
		}
		slices.Sort(m)
		for _, f := range m {
			if !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: nothing in %s matches junit %s", ErrNoReport, dir, strings.Join(patterns, ", "))
	}
	return files, nil
}

// readReport opens a declared report, name in root (or, with root nil,
// the path name), telling a missing one apart; shown is its path for
// messages. It must be a regular file there.
func readReport(root *os.Root, name, shown string) (*os.File, error) {
	stat, open := os.Stat, os.Open
	if root != nil {
		stat, open = root.Stat, root.Open
	}
	fi, err := stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoReport, shown)
	case err != nil && root != nil:
		return nil, fmt.Errorf("%w: %s cannot be read inside the workspace (a symlink out of it?): %v", ErrBadReport, shown, err)
	case err != nil:
		return nil, fmt.Errorf("read report: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrBadReport, shown)
	}
	f, err := open(name)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	return f, nil
}
