package config

import (
	"encoding"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// WireSchemas describes Go types as encoding/json writes them (the API's
// requests and answers, for its OpenAPI document) with the generator of
// tug.yaml's schema, so the project has one. Struct types are defined
// once each (Defs) and referenced by refPrefix + name. Not safe for
// concurrent use.
type WireSchemas struct {
	g *schemaGen
}

// wireStyle is what the wire mode adds to the generator.
type wireStyle struct {
	prefix    string
	overrides map[reflect.Type]map[string]any
	names     map[string]reflect.Type
}

// NewWireSchemas returns a generator whose references start with
// refPrefix ("#/components/schemas/"). overrides give the schema of types
// that encode themselves (a json.Marshaler) in their own shape.
func NewWireSchemas(refPrefix string, overrides map[reflect.Type]map[string]any) *WireSchemas {
	return &WireSchemas{g: &schemaGen{defs: map[string]any{}, wire: &wireStyle{
		prefix: refPrefix, overrides: overrides, names: map[string]reflect.Type{},
	}}}
}

// Of is the schema of t: a reference for struct types, inline otherwise.
func (w *WireSchemas) Of(t reflect.Type) map[string]any {
	return w.g.rewriteRefs(w.g.schema(t, ""))
}

// Defs are the struct types described so far, by name.
func (w *WireSchemas) Defs() map[string]any {
	out := make(map[string]any, len(w.g.defs))
	for k, v := range w.g.defs {
		if m, ok := v.(map[string]any); ok {
			out[k] = w.g.rewriteRefs(m)
		}
	}
	return out
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	goDurationType = reflect.TypeFor[time.Duration]()
	rawJSONType    = reflect.TypeFor[json.RawMessage]()
	marshalerType  = reflect.TypeFor[json.Marshaler]()
	textType       = reflect.TypeFor[encoding.TextMarshaler]()
)

// wireSchema describes what encoding/json writes for t where that
// differs from tug.yaml's spelling; ok is false where the shared
// generator applies (strings, struct definitions).
func (g *schemaGen) wireSchema(t reflect.Type) (map[string]any, bool) {
	if g.wire == nil {
		return nil, false
	}
	if s, ok := g.wire.overrides[t]; ok {
		return copyMap(s), true
	}
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}, true
	case goDurationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}, true
	case rawJSONType:
		return map[string]any{"description": "any JSON value"}, true
	}
	switch {
	case t.Kind() != reflect.Pointer && t.Implements(marshalerType):
		return map[string]any{"description": "encoded by " + t.String()}, true
	case t.Kind() != reflect.Pointer && t.Implements(textType):
		return map[string]any{"type": "string"}, true
	}
	// encoding/json writes nil pointers, maps and slices as null.
	switch t.Kind() {
	case reflect.Pointer:
		return map[string]any{"anyOf": []any{g.schema(t.Elem(), ""), map[string]any{"type": "null"}}}, true
	case reflect.Struct:
		return g.ref(t), true
	case reflect.Map:
		return map[string]any{"type": []any{"object", "null"}, "additionalProperties": g.schema(t.Elem(), "")}, true
	case reflect.Interface:
		return map[string]any{}, true
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, true
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": []any{"string", "null"}, "contentEncoding": "base64"}, true
		}
		return map[string]any{"type": []any{"array", "null"}, "items": g.schema(t.Elem(), "")}, true
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem(), "")}, true
	}
	return nil, false
}

// wireObject describes a struct as encoding/json writes it: fields by
// their json names, embedded structs flattened, omitempty ones optional.
func (g *schemaGen) wireObject(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.wireFields(t, props, &required)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) wireFields(t reflect.Type, props map[string]any, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.wireFields(ft, props, required)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type, "")
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
}

var pkgPath = regexp.MustCompile(`[\w./-]*/[\w-]+\.|\b[a-z]\w*\.`)

// defName is a struct type's definition name: its Go name (generic
// arguments spelled out), package-qualified where two packages share it.
func (g *schemaGen) defName(t reflect.Type) string {
	if g.wire == nil {
		return t.Name()
	}
	name := t.Name()
	if base, args, ok := strings.Cut(name, "["); ok {
		args = pkgPath.ReplaceAllString(args, "")
		args = strings.NewReplacer("[]", " list ", "map[", " map ", "*", " ").Replace(args)
		var b strings.Builder
		b.WriteString(base + "Of")
		for _, word := range strings.FieldsFunc(args, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			b.WriteString(strings.ToUpper(word[:1]) + word[1:])
		}
		name = b.String()
	}
	if name == "" {
		name = "Object"
	}
	if prev, ok := g.wire.names[name]; ok && prev != t {
		pkg := t.PkgPath()
		name = pkg[strings.LastIndex(pkg, "/")+1:] + "." + name
	}
	g.wire.names[name] = t
	return name
}

// rewriteRefs points the generator's references at the wire prefix.
func (g *schemaGen) rewriteRefs(s map[string]any) map[string]any {
	out := make(map[string]any, len(s))
	for k, v := range s {
		switch v := v.(type) {
		case map[string]any:
			out[k] = g.rewriteRefs(v)
		case []any:
			list := make([]any, len(v))
			for i, e := range v {
				if m, ok := e.(map[string]any); ok {
					list[i] = g.rewriteRefs(m)
				} else {
					list[i] = e
				}
			}
			out[k] = list
		case string:
			if k == "$ref" {
				v = g.wire.prefix + strings.TrimPrefix(v, "#/$defs/")
			}
			out[k] = v
		default:
			out[k] = v
		}
	}
	return out
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
