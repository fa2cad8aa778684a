package config

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"strings"
)

// typesSource is types.go and the types_*.go files (one per area of
// tug.yaml) themselves: the comment of each field is the description of
// its key, so the two cannot drift.
//
//go:embed types.go types_*.go
var typesSource embed.FS

// fieldDocs reads the comment of every field of the types files, keyed
// "Type.key" (the yaml key), as one line of text.
func fieldDocs() (map[string]string, error) {
	names, err := fs.Glob(typesSource, "types*.go")
	if err != nil {
		return nil, err
	}
	docs := map[string]string{}
	for _, name := range names {
		src, err := typesSource.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("config: parse %s for descriptions: %w", name, err)
		}
		fileDocs(f, docs)
	}
	return docs, nil
}

// fileDocs adds the field comments of f's struct types to docs.
func fileDocs(f *ast.File, docs map[string]string) {
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return false
		}
		for _, fd := range st.Fields.List {
			if fd.Tag == nil || fd.Doc == nil {
				continue
			}
			key, _, _ := strings.Cut(reflect.StructTag(strings.Trim(fd.Tag.Value, "`")).Get("yaml"), ",")
			if key != "" && key != "-" {
				docs[ts.Name.Name+"."+key] = strings.Join(strings.Fields(fd.Doc.Text()), " ")
			}
		}
		return false
	})
}

// schemaRules are the constraints the Go types cannot carry, keyed by
// "Type.key". They repeat the loader's semantic rules that a schema can
// express, so editors flag them while typing.
func schemaRules() map[string]map[string]any {
	return map[string]map[string]any{
		"Config.version":              {"const": 1},
		"Job.when":                    {"enum": whenValues()},
		"Job.retry":                   {"minimum": 0, "maximum": maxRetry},
		"DeployPolicy.strategy":       {"enum": strategyValues()},
		"AlertRule.severity":          {"enum": severityValues()},
		"Approval.not_by":             {"enum": notByValues()},
		"Service.port":                {"minimum": 1, "maximum": 65535},
		"Service.replicas":            {"minimum": 0},
		"ServiceEnvironment.replicas": {"minimum": 0},
		"CanaryStep.weight":           {"minimum": 1, "maximum": 100},
		"Trigger.event":               {"enum": EventNames()},
		"Scan.fail_on":                {"enum": ScanSeverities()},
		"JobScan.fail_on":             {"enum": ScanSeverities()},
		"Secrets.backend":             {"enum": SecretBackends()},
		"SecretPolicy.length":         {"minimum": minSecretLength, "maximum": maxSecretLength},
	}
}

// schemaRequired lists keys the loader insists on, per type.
func schemaRequired() map[string][]string {
	return map[string][]string{
		"Config":     {"version"},
		"Step":       {"run"},
		"JobDeploy":  {"service"},
		"JobService": {"name", "image"},
		"CanaryStep": {"weight"},
		"AlertRule":  {"alert", "expr"},
		"ScanIgnore": {"reason"},
		"AppRole":    {"role_id", "secret_id_secret"},
	}
}

const (
	schemaDialect = "https://json-schema.org/draft/2020-12/schema"
	// interpolationPattern matches a value that holds a ${VAR} reference,
	// which the loader expands before reading numbers and durations.
	interpolationPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`
	envNamePattern       = `^[A-Za-z_][A-Za-z0-9_]*$`
)

// Schema returns the JSON Schema (draft 2020-12) of tug.yaml, generated
// from the Go types so the two cannot drift apart.
func Schema() ([]byte, error) {
	docs, err := fieldDocs()
	if err != nil {
		return nil, err
	}
	g := &schemaGen{defs: map[string]any{}, rules: schemaRules(), required: schemaRequired(), docs: docs}
	g.defs["Interpolated"] = map[string]any{"type": "string", "pattern": interpolationPattern}
	g.defs["Scalar"] = map[string]any{"type": []string{"string", "number", "boolean"}}
	root := map[string]any{
		"$schema":     schemaDialect,
		"title":       "tug.yaml",
		"description": "The one file that declares a project's pipelines, services, environments and alerts for tug.",
		"$ref":        g.ref(reflect.TypeFor[Config]())["$ref"],
		"$defs":       g.defs,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type schemaGen struct {
	defs     map[string]any
	rules    map[string]map[string]any
	required map[string][]string
	// wire, when set, describes types as encoding/json writes them (see
	// WireSchemas) instead of as tug.yaml spells them.
	wire *wireStyle
	// docs are the keys' descriptions, by "Type.key".
	docs map[string]string
}

func refTo(name string) map[string]any { return map[string]any{"$ref": "#/$defs/" + name} }

// orInterpolated accepts s or a string that interpolation turns into one.
func orInterpolated(s map[string]any) map[string]any {
	return map[string]any{"anyOf": []any{s, refTo("Interpolated")}}
}

// ref returns a reference to the definition of struct type t, defining it
// on first use.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	name := g.defName(t)
	if _, done := g.defs[name]; !done {
		g.defs[name] = nil // placeholder against recursion
		g.defs[name] = g.object(t)
	}
	return refTo(name)
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	if g.wire != nil {
		return g.wireObject(t)
	}
	props := map[string]any{}
	for _, f := range fieldsOf(t) {
		sf := t.Field(f.index)
		s := g.schema(sf.Type, f.name)
		if extra, ok := g.rules[t.Name()+"."+f.name]; ok {
			s = constrain(s, extra)
		}
		if doc := g.docs[t.Name()+"."+f.name]; doc != "" {
			s["description"] = doc
		}
		props[f.name] = s
	}
	obj := map[string]any{
		// Like the loader, a key with no value means "not set".
		"type":                 []string{"object", "null"},
		"properties":           props,
		"additionalProperties": false,
	}
	if req := g.required[t.Name()]; len(req) > 0 {
		obj["required"] = req
	}
	if t == reflect.TypeFor[Config]() {
		obj["patternProperties"] = map[string]any{"^" + extensionPrefix: map[string]any{}}
	}
	return obj
}

// constrain adds extra keywords to s, or to its non-interpolated branch.
func constrain(s, extra map[string]any) map[string]any {
	if _, ok := extra["const"]; ok {
		return extra
	}
	target := s
	if alts, ok := s["anyOf"].([]any); ok {
		target = alts[0].(map[string]any)
	}
	for k, v := range extra {
		target[k] = v
	}
	return s
}

// schema describes type t found under key.
func (g *schemaGen) schema(t reflect.Type, key string) map[string]any {
	if s, ok := g.wireSchema(t); ok {
		return s
	}
	switch t {
	case durationType:
		if _, ok := g.defs["Duration"]; !ok {
			g.defs["Duration"] = orInterpolated(map[string]any{
				"type": "string", "pattern": durationPattern,
				"description": "A duration such as 30s, 5m or 1h30m.",
			})
		}
		return refTo("Duration")
	case byteSizeType:
		if _, ok := g.defs["ByteSize"]; !ok {
			g.defs["ByteSize"] = map[string]any{
				"description": "A size in bytes, or with a unit such as 512MiB, 5GiB or 10MB.",
				"anyOf": []any{
					map[string]any{"type": "integer", "minimum": 0},
					map[string]any{"type": "string", "pattern": byteSizePattern},
					refTo("Interpolated"),
				},
			}
		}
		return refTo("ByteSize")
	case triggerType:
		if _, ok := g.defs["Trigger"]; !ok {
			obj := g.object(t)
			obj["minProperties"] = 1
			g.defs["Trigger"] = map[string]any{
				"description": "An event name (push, manual) or a mapping such as {schedule: \"0 3 * * *\"} or {tag: \"v*\"}.",
				"anyOf":       []any{map[string]any{"type": "string", "enum": EventNames()}, obj},
			}
		}
		return refTo("Trigger")
	case triggersType:
		return map[string]any{"anyOf": []any{
			refTo("Trigger"),
			map[string]any{"type": "array", "items": g.schema(triggerType, "")},
		}}
	case approvalType:
		if _, ok := g.defs["Approval"]; !ok {
			g.defs["Approval"] = map[string]any{
				"description": "`required`, or a mapping such as {required: true, not_by: deployer}.",
				"anyOf":       []any{map[string]any{"type": "string", "enum": approvalValues()}, g.object(t)},
			}
		}
		return refTo("Approval")
	case flagValType:
		return map[string]any{"description": "A variant's value: a boolean, string, number or mapping, as the flag's type says."}
	case matrixType:
		if _, ok := g.defs["Matrix"]; !ok {
			entries := func(doc string) map[string]any {
				return map[string]any{"description": doc, "type": "array", "items": map[string]any{
					"type": "object", "additionalProperties": refTo("Scalar"),
				}}
			}
			g.defs["Matrix"] = map[string]any{
				"description": "Every key other than include and exclude is an axis: one value or a list of values.",
				"type":        "object",
				"properties": map[string]any{
					"include": entries("Extra cells, or extra keys for the cells they agree with on the axes (GitHub Actions' rules). Default: none. Example: `include: [{go: \"1.26\", race: \"true\"}]`."),
					"exclude": entries("Cells left out: each entry names axis values a cell must not all have. Default: none. Example: `exclude: [{go: \"1.25\", os: windows}]`."),
				},
				"additionalProperties": map[string]any{"anyOf": []any{
					refTo("Scalar"),
					map[string]any{"type": "array", "items": refTo("Scalar")},
				}},
			}
		}
		return refTo("Matrix")
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem(), key)
	case reflect.Struct:
		return g.ref(t)
	case reflect.Map:
		m := map[string]any{"type": "object"}
		switch el := t.Elem(); {
		case el.Kind() == reflect.String:
			m["additionalProperties"] = refTo("Scalar")
		default:
			m["additionalProperties"] = g.schema(el, "")
		}
		if key == "env" {
			m["propertyNames"] = map[string]any{"pattern": envNamePattern}
		}
		return m
	case reflect.Slice:
		items := g.schema(t.Elem(), "")
		if el := t.Elem(); el.Kind() == reflect.Struct || (el.Kind() == reflect.Pointer && el.Elem().Kind() == reflect.Struct) {
			if _, isRef := items["$ref"]; isRef && el != triggerType {
				items["type"] = "object" // a list item cannot be left empty
			}
		}
		if t.Elem().Kind() == reflect.Map {
			items = map[string]any{"type": "object", "additionalProperties": refTo("Scalar")}
		}
		return map[string]any{"type": "array", "items": items}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return orInterpolated(map[string]any{"type": "integer"})
	case reflect.Float64:
		return orInterpolated(map[string]any{"type": "number"})
	case reflect.Bool:
		return orInterpolated(map[string]any{"type": "boolean"})
	}
	panic("config: no schema for " + strings.TrimSpace(t.String()))
}
