package report

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// workspace lays out files (slash paths relative to the dir) copied from
// testdata or given inline.
func workspace(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		data := []byte(src)
		if from, ok := strings.CutPrefix(src, "testdata:"); ok {
			var err error
			if data, err = os.ReadFile(filepath.Join("testdata", from)); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	dir := workspace(t, map[string]string{
		"reports/go/unit.xml":     "testdata:gotestsum.xml",
		"reports/py/nested/x.xml": "testdata:pytest.xml",
		"reports/notes.txt":       "not a report",
		"cover.out":               "testdata:cover.out",
	})
	s, err := Summarize(dir, []string{"reports/**/*.xml", "reports/go/unit.xml"}, "cover.out")
	if err != nil {
		t.Fatal(err)
	}
	// gotestsum 4/3/2 plus pytest 3/3/1; unit.xml matched twice, read once.
	if s.Passed != 7 || s.Failed != 6 || s.Skipped != 3 {
		t.Errorf("passed/failed/skipped = %d/%d/%d, want 7/6/3", s.Passed, s.Failed, s.Skipped)
	}
	want := []string{
		"example.com/tugfix/calc.TestSub", "example.com/tugfix/calc.TestTable/two", "example.com/tugfix/calc.TestTable",
		"test_calc.test_sub", "test_calc.TestGroup.test_param[2]", "test_calc.test_error",
	}
	if !slices.Equal(s.Failures, want) {
		t.Errorf("failures = %q, want %q", s.Failures, want)
	}
	if s.Coverage == nil || fmt.Sprintf("%.1f", *s.Coverage) != "46.7" {
		t.Errorf("coverage = %s, want 46.7", fmtPct(s.Coverage))
	}

	// Coverage alone, by absolute path.
	s, err = Summarize(t.TempDir(), nil, filepath.Join(dir, "cover.out"))
	if err != nil || s.Coverage == nil || s.Passed+s.Failed+s.Skipped != 0 {
		t.Errorf("coverage only: %+v, %v", s, err)
	}
	// Nothing declared: nothing to say.
	if s, err := Summarize(dir, nil, ""); s != nil || err != nil {
		t.Errorf("no reports: %+v, %v", s, err)
	}
}

func TestSummarizeErrors(t *testing.T) {
	t.Parallel()
	dir := workspace(t, map[string]string{
		"junit.xml": "testdata:pytest.xml",
		"bad.xml":   "<html/>",
		"cover.out": "testdata:cover.out",
		"bad.out":   "nonsense",
	})
	tests := []struct {
		name     string
		junit    []string
		coverage string
		want     error
		mention  string
	}{
		{"no junit match", []string{"out/*.xml"}, "", ErrNoReport, "out/*.xml"},
		{"missing coverage", []string{"junit.xml"}, "missing.out", ErrNoReport, "missing.out"},
		{"bad junit", []string{"*.xml"}, "", ErrBadReport, "bad.xml"},
		{"bad coverage", nil, "bad.out", ErrBadReport, "bad.out"},
		{"pattern leaves the workspace", []string{"../*.xml"}, "", ErrBadReport, "../*.xml"},
		{"absolute pattern", []string{"/etc/*.xml"}, "", ErrBadReport, "/etc/*.xml"},
		{"invalid glob", []string{"reports/[.xml"}, "", ErrBadReport, "reports/[.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Summarize(dir, tt.junit, tt.coverage)
			if !errors.Is(err, tt.want) || s != nil {
				t.Fatalf("got %+v, %v; want %v", s, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("err %q does not name %q", err, tt.mention)
			}
		})
	}
}

func fmtPct(p *float64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%.3f", *p)
}

// A job can leave symlinks where its reports should be: one that leads
// out of the workspace (to a key, the state directory) is refused, and
// nothing of the file it names is read or quoted; one inside it is read.
// A FIFO is refused rather than waited on.
func TestSummarizeRefusesSymlinksOutOfTheWorkspace(t *testing.T) {
	t.Parallel()
	outside := workspace(t, map[string]string{
		"key.xml":   "<testsuite><testcase name=\"SECRET-KEY-MATERIAL\"/></testsuite>",
		"cover.out": "SECRET-KEY-MATERIAL\n",
	})
	dir := workspace(t, map[string]string{"real.xml": "testdata:pytest.xml"})
	for _, l := range [][2]string{
		{filepath.Join(outside, "key.xml"), "reports/a.xml"},
		{filepath.Join(outside, "cover.out"), "cover.out"},
		{outside, "linked"},
		{"real.xml", "inside.xml"},
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, l[1])), 0o755)
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.xml"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		junit    []string
		coverage string
	}{
		{"a junit symlink out", []string{"reports/*.xml"}, ""},
		{"a junit file under a linked directory", []string{"linked/key.xml"}, ""},
		{"a coverage symlink out", nil, "cover.out"},
		{"a coverage symlink out, by absolute path", nil, filepath.Join(dir, "cover.out")},
		{"a FIFO", []string{"fifo.xml"}, ""},
	} {
		s, err := Summarize(dir, tt.junit, tt.coverage)
		if s != nil || !(errors.Is(err, ErrBadReport) || errors.Is(err, ErrNoReport)) {
			t.Errorf("%s: %+v, %v", tt.name, s, err)
			continue
		}
		if strings.Contains(err.Error(), "SECRET-KEY-MATERIAL") {
			t.Errorf("%s: the error quotes the file: %v", tt.name, err)
		}
	}
	if s, err := Summarize(dir, []string{"inside.xml"}, ""); err != nil || s.Passed != 3 {
		t.Errorf("a symlink inside the workspace: %+v, %v", s, err)
	}
}
