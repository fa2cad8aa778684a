package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// openAPI describes every route of the table (and every mounted prefix)
// as an OpenAPI 3.1 document; schemas are generated from the Go types the
// handlers encode, so they cannot drift from the wire format.
func (h *Handler) openAPI() map[string]any {
	g := &schemaGen{defs: map[string]any{}, names: map[string]reflect.Type{}}
	errRef := g.schema(reflect.TypeOf(ErrorResponse{}))
	paths := map[string]any{}
	item := func(p string) map[string]any {
		if m, ok := paths[p].(map[string]any); ok {
			return m
		}
		m := map[string]any{}
		paths[p] = m
		return m
	}
	for _, rt := range h.routes {
		op := map[string]any{
			"summary":     rt.summary,
			"operationId": operationID(rt.method, rt.path),
		}
		var params []any
		for _, name := range pathParams(rt.path) {
			params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": q.required, "description": q.doc, "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.body != nil {
			op["requestBody"] = map[string]any{
				"required": true,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.body))}},
			}
		}
		var content map[string]any
		switch {
		case rt.stream:
			content = map[string]any{"application/x-ndjson": map[string]any{"schema": g.schema(reflect.TypeOf(rt.resp))}}
		case rt.text != "":
			content = map[string]any{rt.text: map[string]any{"schema": map[string]any{"type": "string"}}}
		case rt.resp != nil:
			content = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(rt.resp))}}
		default:
			content = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		}
		op["responses"] = map[string]any{
			"200":     map[string]any{"description": "OK", "content": content},
			"default": map[string]any{"description": "An error: {\"error\": {\"code\", \"message\", \"details\"}}", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
		}
		item(rt.path)[strings.ToLower(rt.method)] = op
	}
	for _, p := range h.mounts {
		if d, ok := h.opts.Mount[p].(Documented); ok {
			for key, summary := range d.APIOperations() {
				method, path, ok := strings.Cut(key, " ")
				if !ok || !strings.HasPrefix(path, strings.TrimSuffix(p, "/")) {
					continue // not under this mount: documented where it is mounted
				}
				op := map[string]any{
					"summary":     summary,
					"operationId": operationID(method, path),
					"responses": map[string]any{
						"200":     map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}},
						"default": map[string]any{"description": "An error", "content": map[string]any{"application/json": map[string]any{"schema": errRef}}},
					},
				}
				if params := pathParams(path); len(params) > 0 {
					var ps []any
					for _, name := range params {
						ps = append(ps, map[string]any{"name": name, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
					}
					op["parameters"] = ps
				}
				it := item(path)
				it["x-tug-mount"] = p
				it[strings.ToLower(method)] = op
			}
			continue
		}
		path := p
		var params []any
		if strings.HasSuffix(p, "/") {
			path = p + "{path}"
			params = []any{map[string]any{"name": "path", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}}
		}
		it := item(path)
		it["x-tug-mount"] = p
		it["get"] = map[string]any{
			"summary":     "Served by another part of tug mounted at " + p,
			"operationId": operationID("mount", p),
			"parameters":  params,
			"responses":   map[string]any{"default": map[string]any{"description": "see the mounted API"}},
		}
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "tug server API",
			"version":     "1",
			"description": "The control plane of tug: deploys, rollbacks, releases, approvals, config and status. Served on the state directory's api.sock and optionally on TCP.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": g.defs},
	}
}

// Documented is a mounted handler that lists its operations for the
// OpenAPI document, as "METHOD /path" → summary. Rooms implement it
// without importing this package.
type Documented interface {
	http.Handler
	APIOperations() map[string]string
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error Error `json:"error"`
}

func pathParams(p string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{([a-zA-Z_]+)\.*\}`).FindAllStringSubmatch(p, -1) {
		out = append(out, m[1])
	}
	return out
}

// operationID is "getApiReleases" style: unique per method and path.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '{' || r == '}' || r == '.' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// schemaGen turns Go types into JSON Schema, struct types once each
// under components/schemas.
type schemaGen struct {
	defs  map[string]any
	names map[string]reflect.Type
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case reflect.TypeOf(time.Time{}):
		return map[string]any{"type": "string", "format": "date-time"}
	case reflect.TypeOf(time.Duration(0)):
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	case reflect.TypeOf(json.RawMessage{}):
		return map[string]any{"description": "any JSON value"}
	}
	switch t.Kind() {
	case reflect.Struct:
		name := g.name(t)
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder stops recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// name is the type's schema name, package-qualified only on a clash.
func (g *schemaGen) name(t reflect.Type) string {
	n := t.Name()
	if n == "" {
		n = "Anonymous"
	}
	if prev, ok := g.names[n]; ok && prev != t {
		pkg := t.PkgPath()
		n = pkg[strings.LastIndex(pkg, "/")+1:] + "." + n
	}
	g.names[n] = t
	return n
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		props[name] = g.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
			required = append(required, name)
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	if required != nil {
		s["required"] = required
	}
	return s
}

// methodsOf lists the methods a path item documents, for tests.
func methodsOf(item map[string]any) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		if _, ok := item[strings.ToLower(m)]; ok {
			out = append(out, m)
		}
	}
	return out
}
