package scan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
)

// dependency is one package version a lockfile pins.
type dependency struct {
	Ecosystem, Name, Version string
	// Line is where the lockfile names it (0 when unknown).
	Line int
	// Direct is set when the manifest asks for it by name.
	Direct bool
	// License is what the lockfile says, when it says (package-lock v2+).
	License string
}

// parseError is a file tug could not read, with the position of the
// problem.
type parseError struct {
	Line, Col int
	Msg       string
}

func (e *parseError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// lockfileParsers maps a lockfile's base name to its parser.
var lockfileNames = map[string]func([]byte) ([]dependency, error){
	"package-lock.json":   parsePackageLock,
	"npm-shrinkwrap.json": parsePackageLock,
	"requirements.txt":    parseRequirements,
	"poetry.lock":         parsePoetryLock,
	"Cargo.lock":          parseCargoLock,
	"Gemfile.lock":        parseGemfileLock,
}

// lockfileParser returns the parser of a file name, or nil.
func lockfileParser(name string) func([]byte) ([]dependency, error) {
	base := path.Base(name)
	if p, ok := lockfileNames[base]; ok {
		return p
	}
	if strings.HasPrefix(base, "requirements") && strings.HasSuffix(base, ".txt") {
		return parseRequirements
	}
	return nil
}

// jsonError turns a decoding error into a positioned one.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return &parseError{Line: 1, Col: 1, Msg: err.Error()}
	}
	line, col := lineCol(data, int(off))
	return &parseError{Line: line, Col: col, Msg: err.Error()}
}

func lineCol(data []byte, off int) (int, int) {
	off = min(off, len(data))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - bytes.LastIndexByte(before, '\n')
	return line, col
}

func parsePackageLock(data []byte) ([]dependency, error) {
	type v1dep struct {
		Version      string                     `json:"version"`
		Dependencies map[string]json.RawMessage `json:"dependencies"`
	}
	var doc struct {
		LockfileVersion int `json:"lockfileVersion"`
		Packages        map[string]struct {
			Name            string            `json:"name"`
			Version         string            `json:"version"`
			License         any               `json:"license"`
			Link            bool              `json:"link"`
			Dependencies    map[string]string `json:"dependencies"`
			DevDependencies map[string]string `json:"devDependencies"`
		} `json:"packages"`
		Dependencies map[string]json.RawMessage `json:"dependencies"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, jsonError(data, err)
	}
	var out []dependency
	if len(doc.Packages) > 0 {
		// Direct dependencies are the ones the root package names.
		root := doc.Packages[""]
		for key, p := range doc.Packages {
			if key == "" || p.Link || p.Version == "" {
				continue
			}
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 {
				continue
			}
			name := key[i+len("node_modules/"):]
			if p.Name != "" {
				name = p.Name
			}
			_, dep := root.Dependencies[name]
			_, dev := root.DevDependencies[name]
			out = append(out, dependency{Ecosystem: "npm", Name: name, Version: p.Version,
				Direct: i == 0 && (dep || dev), License: npmLicense(p.License)})
		}
	} else {
		var walk func(deps map[string]json.RawMessage, top bool) error
		walk = func(deps map[string]json.RawMessage, top bool) error {
			for name, raw := range deps {
				var d v1dep
				if err := json.Unmarshal(raw, &d); err != nil {
					return jsonError(data, err)
				}
				out = append(out, dependency{Ecosystem: "npm", Name: name, Version: d.Version, Direct: top})
				if err := walk(d.Dependencies, false); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(doc.Dependencies, true); err != nil {
			return nil, err
		}
	}
	// Lines: find each "version" near its package key, for findings that
	// point somewhere useful.
	sort.Slice(out, func(i, j int) bool { return out[i].Name+out[i].Version < out[j].Name+out[j].Version })
	for i := range out {
		if k := bytes.Index(data, []byte(`node_modules/`+out[i].Name+`"`)); k >= 0 {
			out[i].Line, _ = lineCol(data, k)
		} else if k := bytes.Index(data, []byte(`"`+out[i].Name+`": {`)); k >= 0 {
			out[i].Line, _ = lineCol(data, k)
		}
	}
	return out, nil
}

// npmLicense reads package.json's license: an SPDX expression, or the
// older {"type": "MIT"} form.
func npmLicense(v any) string {
	switch l := v.(type) {
	case string:
		return l
	case map[string]any:
		s, _ := l["type"].(string)
		return s
	}
	return ""
}

// requirementRe is a pinned requirement: name[extras]==version.
var requirementRe = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(===?|~=|>=|<=|!=|<|>)?\s*([^\s;#,]*)`)

func parseRequirements(data []byte) ([]dependency, error) {
	var out []dependency
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") || strings.Contains(line, "://") || strings.HasPrefix(line, ".") || strings.HasPrefix(line, "/") {
			continue
		}
		line = strings.TrimSuffix(line, "\\")
		m := requirementRe.FindStringSubmatch(line)
		if m == nil {
			return out, &parseError{Line: n, Col: 1, Msg: fmt.Sprintf("not a requirement: %q", line)}
		}
		if m[3] == "==" || m[3] == "===" {
			if m[4] == "" {
				return out, &parseError{Line: n, Col: len(m[0]) + 1, Msg: "missing version after " + m[3]}
			}
			out = append(out, dependency{Ecosystem: "PyPI", Name: m[1], Version: m[4], Line: n, Direct: true})
		}
	}
	return out, sc.Err()
}

// parseTOMLPackages reads the [[package]] tables of poetry.lock and
// Cargo.lock: name and version keys, with their lines. It reads only
// the subset of TOML those files use and reports anything else that
// looks broken.
func parseTOMLPackages(data []byte, eco string) ([]dependency, error) {
	var out []dependency
	var cur *dependency
	inPkg := false
	flush := func() error {
		if cur != nil {
			if cur.Name == "" || cur.Version == "" {
				return &parseError{Line: cur.Line, Col: 1, Msg: "[[package]] without name or version"}
			}
			out = append(out, *cur)
		}
		cur = nil
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	depth := 0 // open brackets of a multi-line array
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if depth > 0 {
			depth += strings.Count(line, "[") - strings.Count(line, "]")
			continue
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			continue
		case strings.HasPrefix(line, "[["):
			if !strings.HasSuffix(line, "]]") {
				return out, &parseError{Line: n, Col: 1, Msg: "unterminated table header"}
			}
			if err := flush(); err != nil {
				return out, err
			}
			inPkg = line == "[[package]]"
			if inPkg {
				cur = &dependency{Ecosystem: eco, Line: n}
			}
			continue
		case strings.HasPrefix(line, "["):
			if !strings.HasSuffix(line, "]") {
				return out, &parseError{Line: n, Col: 1, Msg: "unterminated table header"}
			}
			if err := flush(); err != nil {
				return out, err
			}
			inPkg = false
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return out, &parseError{Line: n, Col: 1, Msg: fmt.Sprintf("expected key = value, got %q", line)}
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") {
			depth = strings.Count(v, "[") - strings.Count(v, "]")
		}
		if strings.HasPrefix(v, `"""`) && !strings.HasSuffix(v[3:], `"""`) {
			// A multi-line string: skip to its end.
			for sc.Scan() {
				n++
				if strings.Contains(sc.Text(), `"""`) {
					break
				}
			}
			continue
		}
		if !inPkg || cur == nil || (k != "name" && k != "version") {
			continue
		}
		s, err := tomlString(v)
		if err != nil {
			return out, &parseError{Line: n, Col: strings.Index(sc.Text(), v) + 1, Msg: err.Error()}
		}
		if k == "name" {
			cur.Name = s
		} else {
			cur.Version = s
		}
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, flush()
}

func tomlString(v string) (string, error) {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1], nil
	}
	return "", fmt.Errorf("expected a quoted string, got %s", v)
}

func parsePoetryLock(data []byte) ([]dependency, error) { return parseTOMLPackages(data, "PyPI") }
func parseCargoLock(data []byte) ([]dependency, error)  { return parseTOMLPackages(data, "crates.io") }

// gemSpecRe is a gem line of Gemfile.lock's specs: "    name (version)".
var gemSpecRe = regexp.MustCompile(`^    ([^\s(]+) \(([^)]+)\)$`)

func parseGemfileLock(data []byte) ([]dependency, error) {
	var out []dependency
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	section := ""
	inSpecs := false
	direct := map[string]bool{}
	for sc.Scan() {
		n++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			section = line
			inSpecs = false
			continue
		}
		if strings.TrimSpace(line) == "specs:" {
			inSpecs = true
			continue
		}
		if section == "DEPENDENCIES" {
			name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			direct[strings.TrimSuffix(name, "!")] = true
			continue
		}
		if section != "GEM" || !inSpecs || strings.HasPrefix(line, "      ") {
			continue
		}
		m := gemSpecRe.FindStringSubmatch(line)
		if m == nil {
			return out, &parseError{Line: n, Col: 1, Msg: fmt.Sprintf("expected \"name (version)\" in GEM specs, got %q", strings.TrimSpace(line))}
		}
		ver := m[2]
		// A platform suffix (1.13.0-x86_64-linux) is not part of the version.
		if i := strings.IndexByte(ver, '-'); i > 0 {
			ver = ver[:i]
		}
		out = append(out, dependency{Ecosystem: "RubyGems", Name: m[1], Version: ver, Line: n})
	}
	for i := range out {
		out[i].Direct = direct[out[i].Name]
	}
	return out, sc.Err()
}
