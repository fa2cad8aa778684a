package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// LoadOptions carries what loading depends on besides the file.
type LoadOptions struct {
	// LookupEnv resolves ${VAR} references; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Load reads and checks the config at path. Errors about the content are
// Errors (matching ErrInvalid); a file that cannot be read gives the
// wrapped os error.
func Load(path string, opts LoadOptions) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse checks data as the content of file (used in messages only). It
// reports every problem it finds, sorted by position, as Errors.
func Parse(file string, data []byte, opts LoadOptions) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	d := newDecoder(file, lookup)
	d.lines = bytes.SplitAfter(data, []byte("\n"))
	root := d.parseYAML(data)
	if root == nil {
		return nil, d.result()
	}
	cfg := &Config{File: file}
	d.keyPos[""] = posOf(root)
	d.valPos[""] = posOf(root)
	d.decode(root, "", reflect.ValueOf(cfg).Elem(), false)
	cfg.Positions = d.keyPos
	cfg.PipelineOrder = d.order["pipelines"]
	cfg.ServiceOrder = d.order["services"]
	cfg.EnvironmentOrder = d.order["environments"]
	for name, p := range cfg.Pipelines {
		p.JobOrder = d.order["pipelines."+name+".jobs"]
	}
	if d.budget >= 0 {
		// Past the expansion bound the config is incomplete; rules would
		// only report what was never decoded.
		validate(cfg, d)
	}
	if err := d.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// maxErrors bounds the report: past it, more errors help nobody.
const maxErrors = 500

// add records e once; an anchor merged twice reports its problems once.
func (d *decoder) add(e *Error) {
	k := errKey{e.Pos, e.Path, e.Msg}
	if d.seenErr[k] {
		return
	}
	d.seenErr[k] = true
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	d.errs = append(d.errs, e)
}

type errKey struct {
	pos       Pos
	path, msg string
}

// result returns the collected errors sorted by position, or nil.
func (d *decoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	out := append(Errors(nil), d.errs...)
	sortErrors(out)
	if d.dropped > 0 {
		out = append(out, &Error{File: d.file, Msg: fmt.Sprintf("%d more errors not shown", d.dropped)})
	}
	return out
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML returns the top-level mapping, or nil after recording why
// there is none.
func (d *decoder) parseYAML(data []byte) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			d.add(&Error{File: d.file, Pos: Pos{Line: 1, Col: 1}, Msg: "file is empty (a tug.yaml starts with \"version: 1\")"})
		} else {
			d.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		d.errorf(&extra, "", "more than one YAML document: tug.yaml holds exactly one")
		return nil
	case !errors.Is(err, io.EOF):
		d.syntaxError(data, err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		d.add(&Error{File: d.file, Pos: Pos{Line: 1, Col: 1}, Msg: "file is empty (a tug.yaml starts with \"version: 1\")"})
		return nil
	}
	root := doc.Content[0]
	if r := resolve(root); r.Kind != yaml.MappingNode {
		d.errorf(root, "", "expected a mapping at the top level, got %s", kindName(r))
		return nil
	}
	return root
}

func (d *decoder) syntaxError(data []byte, err error) {
	e := &Error{File: d.file, Msg: "invalid YAML: " + err.Error()}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		e.Pos.Line, _ = strconv.Atoi(m[1])
		e.Msg = "invalid YAML: " + m[2]
		e.Pos = locateSyntaxError(data, m[2], e.Pos)
	}
	d.add(e)
}

// locateSyntaxError finds the line a YAML syntax error is on. The parser
// reports the line where the enclosing construct began, which can be far
// above the mistake; the first prefix of the file that fails with the same
// problem ends on the offending line. The column is where that line's text
// starts. It falls back to the parser's line.
func locateSyntaxError(data []byte, problem string, fallback Pos) Pos {
	lines := bytes.SplitAfter(data, []byte("\n"))
	fails := func(k int) bool {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err == nil {
			return false
		}
		m := yamlLineRE.FindStringSubmatch(err.Error())
		return m != nil && m[2] == problem
	}
	if len(lines) > 100000 || !fails(len(lines)) {
		return fallback
	}
	k := sort.Search(len(lines), func(k int) bool { return fails(k + 1) }) + 1
	line := lines[k-1]
	col := len(line) - len(bytes.TrimLeft(line, " ")) + 1
	if col > len(line) {
		col = 1
	}
	return Pos{Line: k, Col: col}
}
