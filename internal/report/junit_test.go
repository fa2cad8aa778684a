package report

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseJUnitFixtures(t *testing.T) {
	t.Parallel()
	// The fixtures come from real tools; testdata/README.md says how.
	tests := []struct {
		file                    string
		passed, failed, skipped int
		failures                []string
	}{
		{"go-junit-report.xml", 4, 3, 2, []string{
			"example.com/tugfix/calc.TestSub",
			"example.com/tugfix/calc.TestTable",
			"example.com/tugfix/calc.TestTable/two",
		}},
		{"gotestsum.xml", 4, 3, 2, []string{
			"example.com/tugfix/calc.TestSub",
			"example.com/tugfix/calc.TestTable/two",
			"example.com/tugfix/calc.TestTable",
		}},
		{"pytest.xml", 3, 3, 1, []string{
			"test_calc.test_sub",
			"test_calc.TestGroup.test_param[2]",
			"test_calc.test_error", // an <error>: fixture setup failed
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			s, err := ParseJUnit(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Passed != tt.passed || s.Failed != tt.failed || s.Skipped != tt.skipped {
				t.Errorf("passed/failed/skipped = %d/%d/%d, want %d/%d/%d", s.Passed, s.Failed, s.Skipped, tt.passed, tt.failed, tt.skipped)
			}
			if !slices.Equal(s.Failures, tt.failures) {
				t.Errorf("failures = %q, want %q", s.Failures, tt.failures)
			}
			if s.Coverage != nil {
				t.Errorf("coverage = %v from a JUnit file", *s.Coverage)
			}
		})
	}
}

func TestParseJUnitDialects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		xml                     string
		passed, failed, skipped int
		failures                []string
	}{
		{
			name: "bare testsuite root, properties, system-out, error",
			xml: `<?xml version="1.0"?>
<testsuite name="unit" tests="4" failures="1" errors="1">
  <properties><property name="os" value="linux"/></properties>
  <testcase classname="pkg.A" name="ok"><system-out>hello</system-out></testcase>
  <testcase classname="pkg.A" name="bad"><failure message="boom" type="AssertionError">trace</failure></testcase>
  <testcase classname="pkg.B" name="broken"><error message="npe"/></testcase>
  <testcase classname="pkg.B" name="later"><skipped/></testcase>
  <system-out>suite output</system-out>
  <system-err>suite errors</system-err>
</testsuite>`,
			passed: 1, failed: 2, skipped: 1,
			failures: []string{"pkg.A.bad", "pkg.B.broken"},
		},
		{
			name: "nested suites without classname use suite/name",
			xml: `<testsuites>
  <testsuite name="outer">
    <testcase name="top"/>
    <testsuite name="inner">
      <testcase name="deep"><failure/></testcase>
      <testcase name="deeper" classname="X"><skipped message="later"/></testcase>
    </testsuite>
    <testsuite>
      <testcase name="anonymous"><failure/></testcase>
    </testsuite>
  </testsuite>
  <testsuite name="second"><testcase name="fine"/></testsuite>
</testsuites>`,
			passed: 2, failed: 2, skipped: 1,
			failures: []string{"inner/deep", "outer/anonymous"},
		},
		{
			name:     "name already qualified by classname",
			xml:      `<testsuite><testcase classname="com.x.FooTest" name="com.x.FooTest.testBar"><failure/></testcase></testsuite>`,
			failed:   1,
			failures: []string{"com.x.FooTest.testBar"},
		},
		{
			name:   "failure and skipped both: failed",
			xml:    `<testsuites><testsuite name="s"><testcase name="t"><skipped/><failure/></testcase></testsuite></testsuites>`,
			failed: 1, failures: []string{"s/t"},
		},
		{
			name:     "latin-1 encoding",
			xml:      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"caf\xe9\"><testcase name=\"cr\xe8me\"><failure/></testcase></testsuite>",
			failed:   1,
			failures: []string{"café/crème"},
		},
		{
			name: "empty testsuites",
			xml:  `<testsuites/>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseJUnit(strings.NewReader(tt.xml))
			if err != nil {
				t.Fatal(err)
			}
			if s.Passed != tt.passed || s.Failed != tt.failed || s.Skipped != tt.skipped {
				t.Errorf("passed/failed/skipped = %d/%d/%d, want %d/%d/%d", s.Passed, s.Failed, s.Skipped, tt.passed, tt.failed, tt.skipped)
			}
			if !slices.Equal(s.Failures, tt.failures) {
				t.Errorf("failures = %q, want %q", s.Failures, tt.failures)
			}
		})
	}
}

func TestParseJUnitRejects(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"empty":         "",
		"not xml":       "PASS\nok  example.com/x 0.1s\n",
		"other root":    `<html><body/></html>`,
		"truncated":     `<testsuites><testsuite name="a"><testcase name="b">`,
		"cover profile": "mode: set\na.go:1.1,2.2 1 1\n",
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseJUnit(strings.NewReader(in)); !errors.Is(err, ErrBadReport) {
				t.Errorf("err = %v, want ErrBadReport", err)
			}
		})
	}
}
