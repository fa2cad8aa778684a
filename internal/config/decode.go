package config

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tugdev/tug/internal/kit"
)

// maxNodes bounds the work of one load, so aliases that fan out cannot make
// a small file expand without limit. Real files stay far below it.
const maxNodes = 1 << 18

// decoder turns a yaml.Node tree into Config, driven by the `yaml` tags of
// the types. It never stops at the first problem: every error is recorded
// with its position and decoding goes on with the next key.
type decoder struct {
	file    string
	lookup  func(string) (string, bool)
	errs    Errors
	seenErr map[errKey]bool
	dropped int

	keyPos map[string]Pos // path -> where its key (or list item) is written
	valPos map[string]Pos // path -> where its value starts
	bad    map[string]bool
	order  map[string][]string // map path -> keys in declaration order

	budget int
	active map[*yaml.Node]bool // alias targets and merge sources being expanded

	// strings maps the path of each string value to its node, and lines
	// holds the file's lines, so a check can point inside a value (a
	// ${{ matrix.x }} in the middle of a script).
	strings map[string]*yaml.Node
	lines   [][]byte
}

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{
		file:    file,
		lookup:  lookup,
		keyPos:  map[string]Pos{},
		valPos:  map[string]Pos{},
		bad:     map[string]bool{},
		order:   map[string][]string{},
		budget:  maxNodes,
		seenErr: map[errKey]bool{},
		active:  map[*yaml.Node]bool{},
		strings: map[string]*yaml.Node{},
	}
}

var (
	durationType = reflect.TypeFor[Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	triggerType  = reflect.TypeFor[Trigger]()
	triggersType = reflect.TypeFor[[]Trigger]()
	matrixType   = reflect.TypeFor[Matrix]()
	approvalType = reflect.TypeFor[Approval]()
	jobType      = reflect.TypeFor[Job]()
	stepType     = reflect.TypeFor[Step]()
	flagValType  = reflect.TypeFor[FlagValue]()
)

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func joinIndex(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	var p Pos
	if n != nil {
		p = posOf(n)
	}
	d.add(&Error{File: d.file, Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// fail records an error about the value at path and marks the path bad, so
// later semantic checks do not pile guesses on top of a value they never got.
func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.errorf(n, path, format, args...)
}

func (d *decoder) spend(n *yaml.Node, path string) bool {
	d.budget--
	if d.budget == -1 {
		d.errorf(n, path, "document too large after expanding aliases")
	}
	return d.budget >= 0
}

// decode fills v from n. raw turns off ${VAR} interpolation (job scripts,
// which the shell expands when the job runs).
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value, raw bool) {
	if !d.spend(n, path) {
		return
	}
	if n.Kind == yaml.AliasNode {
		t := n.Alias
		if t == nil {
			d.fail(n, path, "unknown alias *%s", n.Value)
			return
		}
		if d.active[t] {
			d.fail(n, path, "alias *%s refers to itself", n.Value)
			return
		}
		d.active[t] = true
		defer delete(d.active, t)
		d.decode(t, path, v, raw)
		return
	}
	if isNull(n) {
		return // absent and null mean the zero value
	}
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path, "a duration", raw); ok {
			dur, err := parseDuration(s)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case byteSizeType:
		if s, ok := d.scalar(n, path, "a size", raw); ok {
			size, err := parseByteSize(s)
			if err != nil {
				d.fail(n, path, "%v", err)
				return
			}
			v.SetInt(int64(size))
		}
		return
	case triggerType:
		d.decodeTrigger(n, path, v)
		return
	case triggersType:
		if n.Kind != yaml.SequenceNode {
			// `on: push` is a list of one trigger.
			v.Set(reflect.MakeSlice(triggersType, 1, 1))
			d.decodeTrigger(n, path, v.Index(0))
			return
		}
	case matrixType:
		d.decodeMatrix(n, path, v)
		return
	case approvalType:
		d.decodeApproval(n, path, v)
		return
	case flagValType:
		d.decodeFlagValue(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, path, p.Elem(), raw)
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v, raw)
	case reflect.Slice:
		d.decodeSlice(n, path, v, raw)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string", raw); ok {
			v.SetString(s)
			d.strings[path] = n
		}
	case reflect.Int, reflect.Int64:
		d.decodeInt(n, path, v, raw)
	case reflect.Float64:
		d.decodeFloat(n, path, v, raw)
	case reflect.Bool:
		d.decodeBool(n, path, v, raw)
	default:
		panic(fmt.Sprintf("config: no decoder for %s", v.Type()))
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// kindName names what was found, for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return kindName(n.Alias)
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!null":
		return "null"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	}
	return "a string"
}

// want names what a Go type accepts, for type errors.
func want(t reflect.Type, plural bool) string {
	s := func(one, many string) string {
		if plural {
			return many
		}
		return one
	}
	switch t {
	case durationType:
		return s("a duration", "durations")
	case byteSizeType:
		return s("a size", "sizes")
	case triggerType:
		return s("a trigger", "triggers")
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem(), plural)
	case reflect.Struct, reflect.Map:
		return s("a mapping", "mappings")
	case reflect.Slice:
		return s("a list of "+want(t.Elem(), true), "lists")
	case reflect.String:
		return s("a string", "strings")
	case reflect.Int, reflect.Int64:
		return s("an integer", "integers")
	case reflect.Float64:
		return s("a number", "numbers")
	case reflect.Bool:
		return s("a boolean", "booleans")
	}
	return t.String()
}

// scalar returns the text of a scalar node, interpolated unless raw.
func (d *decoder) scalar(n *yaml.Node, path, what string, raw bool) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", what, kindName(n))
		return "", false
	}
	if raw {
		return n.Value, true
	}
	return d.interp(n, path)
}

func (d *decoder) interp(n *yaml.Node, path string) (string, bool) {
	s, err := interpolate(n.Value, d.lookup)
	if err != nil {
		d.fail(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// numberText gives the text to parse as a number: a YAML number as is, or a
// string that interpolation turned into one (`port: ${PORT:-8080}`).
func (d *decoder) numberText(n *yaml.Node, path string, tags []string, what string, raw bool) (string, bool) {
	if n.Kind == yaml.ScalarNode {
		tag := n.ShortTag()
		for _, t := range tags {
			if tag == t {
				return n.Value, true
			}
		}
		if tag == "!!str" && !raw && strings.Contains(n.Value, "${") {
			s, ok := d.interp(n, path)
			if !ok {
				return "", false
			}
			return strings.TrimSpace(s), true
		}
	}
	d.fail(n, path, "expected %s, got %s", what, kindName(n))
	return "", false
}

func (d *decoder) decodeInt(n *yaml.Node, path string, v reflect.Value, raw bool) {
	s, ok := d.numberText(n, path, []string{"!!int"}, "an integer", raw)
	if !ok {
		return
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
	if err != nil || v.OverflowInt(i) {
		d.fail(n, path, "expected an integer, got %q", s)
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeFloat(n *yaml.Node, path string, v reflect.Value, raw bool) {
	s, ok := d.numberText(n, path, []string{"!!int", "!!float"}, "a number", raw)
	if !ok {
		return
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail(n, path, "expected a finite number, got %q", s)
		return
	}
	v.SetFloat(f)
}

func (d *decoder) decodeBool(n *yaml.Node, path string, v reflect.Value, raw bool) {
	s, ok := d.numberText(n, path, []string{"!!bool"}, "a boolean", raw)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		d.fail(n, path, "expected a boolean (true or false), got %q", s)
		return
	}
	v.SetBool(b)
}

func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value, raw bool) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected %s, got %s", want(v.Type(), false), kindName(n))
		return
	}
	elem := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		p := joinIndex(path, i)
		d.keyPos[p] = posOf(item)
		d.valPos[p] = posOf(item)
		if r := resolve(item); isNull(r) {
			d.fail(item, p, "expected %s, got null", want(elem, false))
			continue
		}
		e := reflect.New(elem).Elem()
		d.decode(item, p, e, raw)
		out = reflect.Append(out, e)
	}
	v.Set(out)
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value, raw bool) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected %s, got %s", want(v.Type(), false), kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elem := v.Type().Elem()
	keys := []string{}
	for _, p := range d.pairs(n, path) {
		cp := joinKey(path, p.name)
		d.keyPos[cp] = posOf(p.key)
		d.valPos[cp] = posOf(p.val)
		e := reflect.New(elem).Elem()
		if elem.Kind() == reflect.Pointer {
			// `staging:` with no body still declares staging.
			e.Set(reflect.New(elem.Elem()))
			d.decode(p.val, cp, e.Elem(), raw)
		} else {
			d.decode(p.val, cp, e, raw)
		}
		v.SetMapIndex(reflect.ValueOf(p.name), e)
		keys = append(keys, p.name)
	}
	d.order[path] = keys
}

// extensionPrefix marks top-level keys tug ignores, so a file can hold
// anchors for reuse (x-defaults: &defaults {...}).
const extensionPrefix = "x-"

// field is one YAML key of a struct.
type field struct {
	name  string
	index int
}

// fieldsOf lists the YAML keys of a struct type in declaration order;
// fields tagged `yaml:"-"` and unexported fields are not keys.
func fieldsOf(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || name == "" {
			continue
		}
		fs = append(fs, field{name: name, index: i})
	}
	return fs
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	t := v.Type()
	fs := fieldsOf(t)
	names := make([]string, len(fs))
	byName := map[string]field{}
	for i, f := range fs {
		names[i] = f.name
		byName[f.name] = f
	}
	for _, p := range d.pairs(n, path) {
		f, ok := byName[p.name]
		if !ok && path == "" && strings.HasPrefix(p.name, extensionPrefix) {
			continue // a place for anchors, as in docker compose
		}
		if !ok {
			d.errorf(p.key, path, "unknown key %q%s", p.name, kit.DidYouMean(p.name, names))
			continue
		}
		cp := joinKey(path, p.name)
		d.keyPos[cp] = posOf(p.key)
		d.valPos[cp] = posOf(p.val)
		raw := (t == jobType || t == stepType) && p.name == "run"
		d.decode(p.val, cp, v.Field(f.index), raw)
	}
}
