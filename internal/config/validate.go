package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/kit"
	"gopkg.in/yaml.v3"
)

// validator runs the semantic rules over a decoded config. Each rule adds
// positioned errors; none stops the others.
type validator struct {
	c *Config
	d *decoder
}

func validate(c *Config, d *decoder) {
	v := &validator{c: c, d: d}
	v.version()
	for _, name := range c.PipelineOrder {
		v.pipeline("pipelines."+name, c.Pipelines[name])
	}
	for _, name := range c.ServiceOrder {
		v.service("services."+name, c.Services[name])
	}
	v.environments()
	v.routes()
	v.alerts()
	v.notify()
	v.monitoring()
	v.server()
	v.flags()
	v.scan()
	v.backups()
	v.secrets()
	v.edge()
	v.incidents()
	v.dashboards()
}

// has says whether path was written in the file.
func (v *validator) has(path string) bool {
	_, ok := v.d.keyPos[path]
	return ok
}

// isBad says whether path or a parent failed to decode; rules then stay
// quiet about it rather than guess.
func (v *validator) isBad(path string) bool {
	for {
		if v.d.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// errorf reports a problem with the value at path.
func (v *validator) errorf(path, format string, args ...any) {
	v.errorAt(path, path, format, args...)
}

// errorAt reports a problem named by path but pointing at the value of
// posPath (e.g. path "…needs", posPath "…needs[2]").
func (v *validator) errorAt(path, posPath, format string, args ...any) {
	if v.isBad(posPath) {
		return
	}
	p, ok := v.d.valPos[posPath]
	if !ok {
		p = lookupPos(v.d.keyPos, posPath)
	}
	v.d.add(&Error{File: v.d.file, Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// errorKey reports a problem with path as a whole, pointing at its key.
func (v *validator) errorKey(path, keyPath, format string, args ...any) {
	if v.isBad(keyPath) {
		return
	}
	p := lookupPos(v.d.keyPos, keyPath)
	v.d.add(&Error{File: v.d.file, Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// enum checks that got is one of allowed (or empty).
func (v *validator) enum(path, got string, allowed ...string) {
	if got == "" || slices.Contains(allowed, got) {
		return
	}
	v.errorf(path, "unknown value %q%s; allowed: %s", got, kit.DidYouMean(got, allowed), strings.Join(allowed, ", "))
}

// unknownName reports a reference to something not declared.
func (v *validator) unknownName(path, posPath, what, got string, declared []string) {
	if len(declared) == 0 {
		v.errorAt(path, posPath, "unknown %s %q (no %ss are declared)", what, got, what)
		return
	}
	v.errorAt(path, posPath, "unknown %s %q%s", what, got, kit.DidYouMean(got, declared))
}

func (v *validator) version() {
	switch {
	case v.isBad("version"):
	case !v.has("version"):
		v.errorf("version", "missing: add \"version: 1\" at the top of the file")
	case v.c.Version != 1:
		v.errorf("version", "unsupported version %d: this tug reads version 1", v.c.Version)
	}
}

// envKeys checks that every key of an env mapping is a variable name.
func (v *validator) envKeys(path string) {
	for _, k := range v.d.order[path] {
		if !kit.ValidEnvName(k) {
			v.errorKey(path+"."+k, path+"."+k, "invalid variable name %q: use letters, digits and _, not starting with a digit", k)
		}
	}
}

// secretNames checks that secrets can be injected as environment variables.
func (v *validator) secretNames(path string, names []string) {
	for i, s := range names {
		v.secretName(joinIndex(path, i), s)
	}
}

// secretName checks one key that names a secret.
func (v *validator) secretName(path, name string) {
	if !kit.ValidEnvName(name) {
		v.errorf(path, "invalid secret name %q: use letters, digits and _, not starting with a digit", name)
	}
}

// posWithin is where the text sub, found at byte offset off of the string
// value at path, stands in the file. It handles values on one line (plain
// or quoted) and literal blocks (|), checking the file's text there; for
// anything else (folded blocks, escapes before sub) it is where the value
// starts.
func (v *validator) posWithin(path string, off int, sub string) Pos {
	start, ok := v.d.valPos[path]
	if !ok {
		start = lookupPos(v.d.keyPos, path)
	}
	n := v.d.strings[path]
	if n == nil || off < 0 || off > len(n.Value) {
		return start
	}
	at := func(line, col int) bool {
		if line < 1 || line > len(v.d.lines) || col < 1 {
			return false
		}
		l := v.d.lines[line-1]
		return col-1+len(sub) <= len(l) && string(l[col-1:col-1+len(sub)]) == sub
	}
	before := n.Value[:off]
	switch n.Style {
	case 0, yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if strings.Contains(before, "\n") {
			return start
		}
		col := n.Column + len(before)
		if n.Style != 0 {
			col++ // the opening quote
		}
		if at(n.Line, col) {
			return Pos{Line: n.Line, Col: col}
		}
	case yaml.LiteralStyle:
		idx := strings.Count(before, "\n")
		lineStart := strings.LastIndex(before, "\n") + 1
		valueLine, _, _ := strings.Cut(n.Value[lineStart:], "\n")
		line := n.Line + 1 + idx
		if line <= len(v.d.lines) {
			raw := strings.TrimRight(string(v.d.lines[line-1]), "\r\n")
			col := len(raw) - len(valueLine) + (off - lineStart) + 1
			if at(line, col) {
				return Pos{Line: line, Col: col}
			}
		}
	}
	return start
}
