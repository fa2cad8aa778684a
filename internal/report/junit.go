package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// junitSuite is a <testsuite> or the <testsuites> root: producers nest
// suites in suites (PHPUnit, RSpec), wrap them in <testsuites> (go-junit-
// report, gotestsum, pytest) or give one bare <testsuite>.
type junitSuite struct {
	XMLName xml.Name
	Name    string       `xml:"name,attr"`
	Suites  []junitSuite `xml:"testsuite"`
	Cases   []junitCase  `xml:"testcase"`
}

type junitCase struct {
	Name      string     `xml:"name,attr"`
	Classname string     `xml:"classname,attr"`
	Failures  []struct{} `xml:"failure"`
	Errors    []struct{} `xml:"error"`
	Skipped   []struct{} `xml:"skipped"`
}

// ParseJUnit counts the test cases of one JUnit XML report: a case with a
// <failure> or <error> failed, else one with <skipped> was skipped, else
// it passed. Suite-level totals in attributes are ignored: producers get
// them wrong more often than the cases. Coverage is nil.
func ParseJUnit(r io.Reader) (*Summary, error) {
	dec := xml.NewDecoder(r)
	dec.CharsetReader = charsetReader
	var root junitSuite
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: empty file, not JUnit XML", ErrBadReport)
		}
		return nil, fmt.Errorf("%w: not JUnit XML: %v", ErrBadReport, err)
	}
	if n := root.XMLName.Local; n != "testsuites" && n != "testsuite" {
		return nil, fmt.Errorf("%w: root element <%s>, want <testsuites> or <testsuite>", ErrBadReport, n)
	}
	s := &Summary{}
	walkSuite(&root, "", s)
	return s, nil
}

func walkSuite(suite *junitSuite, parent string, s *Summary) {
	name := suite.Name
	if suite.XMLName.Local == "testsuites" {
		name = ""
	}
	if name == "" {
		name = parent
	}
	for _, c := range suite.Cases {
		switch {
		case len(c.Failures) > 0 || len(c.Errors) > 0:
			s.Failed++
			s.Failures = append(s.Failures, caseName(c, name))
		case len(c.Skipped) > 0:
			s.Skipped++
		default:
			s.Passed++
		}
	}
	for i := range suite.Suites {
		walkSuite(&suite.Suites[i], name, s)
	}
}

// caseName is "classname.name" when the case has a class (unless the
// name already starts with it), else "suite/name".
func caseName(c junitCase, suite string) string {
	switch {
	case c.Classname != "" && !strings.HasPrefix(c.Name, c.Classname+"."):
		return c.Classname + "." + c.Name
	case c.Classname != "":
		return c.Name
	case suite != "":
		return suite + "/" + c.Name
	}
	return c.Name
}

// charsetReader lets reports declared in Latin-1 or ASCII be read (Java
// tools write them); UTF-8 needs no reader.
func charsetReader(charset string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return strings.NewReader(string(out)), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q", charset)
}

func parseJUnitFile(root *os.Root, name, p string) (*Summary, error) {
	f, err := readReport(root, name, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := ParseJUnit(f)
	if err != nil {
		return nil, fmt.Errorf("junit report %s: %w", p, err)
	}
	return s, nil
}
