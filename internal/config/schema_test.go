package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"gopkg.in/yaml.v3"
)

const schemaFile = "../../docs/tug.schema.json"

func TestSchemaUpToDate(t *testing.T) {
	t.Parallel()
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/config -run TestSchemaUpToDate -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/tug.schema.json is stale: run go test ./internal/config -run TestSchemaUpToDate -update")
	}
}

// structuralFailures are the invalid testdata files whose problem is the
// shape of the document (unknown key, wrong type, bad value syntax), which
// the schema must reject too.
var structuralFailures = []string{
	"unknown_key", "type_error", "duration", "size", "version", "version_missing",
	"when", "service_strategy", "alert_severity", "approval", "approval_not_by", "retry", "service_port",
	"service_replicas", "alert_required", "env_key", "trigger", "job_services",
	"trigger_event", "secrets_backend",
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("tug.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("tug.schema.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// yamlInstance reads a YAML file the way an editor's schema check does.
func yamlInstance(t *testing.T, file string) any {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// leafLocations lists where the innermost schema errors are, as JSON
// pointers; a missing required key is placed inside its object ("/a/*").
func leafLocations(ve *jsonschema.ValidationError) []string {
	if pn, ok := ve.ErrorKind.(*kind.PropertyNames); ok {
		// jsonschema/v6 garbles the location of propertyNames errors;
		// the key itself is reliable. "?KEY" matches any path ending in it.
		return []string{"?" + pn.Property}
	}
	if len(ve.Causes) > 0 {
		var out []string
		for _, c := range ve.Causes {
			out = append(out, leafLocations(c)...)
		}
		return out
	}
	l := jsonPointer(strings.Join(ve.InstanceLocation, "."))
	if _, ok := ve.ErrorKind.(*kind.Required); ok {
		l += "/*"
	}
	return []string{l}
}

// jsonPointer turns "a.b[2].c" into "/a/b/2/c".
func jsonPointer(path string) string {
	if path == "" {
		return ""
	}
	path = strings.NewReplacer("[", ".", "]", "").Replace(path)
	return "/" + strings.ReplaceAll(path, ".", "/")
}

func TestSchemaAgreesWithLoader(t *testing.T) {
	t.Parallel()
	sch := compileSchema(t)
	valid, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, f := range valid {
		t.Run("valid/"+filepath.Base(f), func(t *testing.T) {
			if _, err := Load(f, testOpts); err != nil {
				t.Fatalf("loader rejects: %v", err)
			}
			if err := sch.Validate(yamlInstance(t, f)); err != nil {
				t.Errorf("schema rejects a file the loader accepts: %v", err)
			}
		})
	}
	for _, name := range structuralFailures {
		f := filepath.Join("testdata", "invalid", name+".yaml")
		t.Run("invalid/"+name, func(t *testing.T) {
			_, lerr := Load(f, testOpts)
			var les Errors
			if !errors.As(lerr, &les) {
				t.Fatalf("loader: %v", lerr)
			}
			err := sch.Validate(yamlInstance(t, f))
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("schema accepts a file the loader rejects for its shape (%v)", err)
			}
			// Each loader error must have a schema error at the same
			// place (or inside it), so both reject for the same reason.
			locs := leafLocations(ve)
			for _, le := range les {
				ptr := jsonPointer(le.Path)
				found := false
				for _, l := range locs {
					if l == ptr || strings.HasPrefix(l, ptr+"/") || strings.TrimSuffix(l, "*")+path.Base(ptr) == ptr || l == "?"+path.Base(ptr) {
						found = true
					}
				}
				if !found {
					t.Errorf("loader error %q has no schema error at %s; schema errors at %v", le, ptr, locs)
				}
			}
		})
	}
}

// TestSchemaDescribesEveryKey: every property of the schema has a
// description (from the comment of its field in types.go) saying what it
// does, its default or that it is required, and an example, so an
// editor's hover and completion teach tug.yaml.
func TestSchemaDescribesEveryKey(t *testing.T) {
	t.Parallel()
	root := schemaDoc(t)
	n := 0
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name, p := range props {
					n++
					doc, _ := p.(map[string]any)["description"].(string)
					switch {
					case doc == "":
						t.Errorf("%s.%s has no description: document its field in internal/config/types.go", where, name)
					case !strings.Contains(doc, "Example: "):
						t.Errorf("%s.%s: description %q has no example", where, name, doc)
					case !strings.Contains(doc, "Default") && !strings.Contains(doc, "Required") && !strings.Contains(doc, "required") && !strings.Contains(doc, "Exactly one of"):
						t.Errorf("%s.%s: description %q says neither its default nor that it is required", where, name, doc)
					}
				}
			}
			for k, c := range v {
				walk(where+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), c)
			}
		}
	}
	walk("", root)
	if n < 140 {
		t.Errorf("only %d properties found: the walk missed some", n)
	}
}

// schemaDoc is the generated schema as JSON values.
func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	data, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	return root
}
