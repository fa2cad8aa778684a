package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// schemaKeys walks the JSON Schema of tug.yaml and lists every key it
// describes, in the KeyPaths notation ("services.*.port", "alerts[].expr").
func schemaKeys(t *testing.T) []string {
	t.Helper()
	root := schemaDoc(t)
	defs := root["$defs"].(map[string]any)
	var out []string
	var walk func(s map[string]any, prefix string, depth int)
	walk = func(s map[string]any, prefix string, depth int) {
		if depth > 20 {
			t.Fatalf("schema nests too deep at %s", prefix)
		}
		if ref, ok := s["$ref"].(string); ok {
			walk(defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any), prefix, depth+1)
		}
		alts, _ := s["anyOf"].([]any)
		for _, alt := range alts {
			walk(alt.(map[string]any), prefix, depth+1)
		}
		if props, ok := s["properties"].(map[string]any); ok {
			for name, p := range props {
				k := joinKey(prefix, name)
				out = append(out, k)
				walk(p.(map[string]any), k, depth+1)
			}
		}
		if items, ok := s["items"].(map[string]any); ok {
			walk(items, prefix+"[]", depth+1)
		}
		if ap, ok := s["additionalProperties"].(map[string]any); ok && prefix != "" {
			walk(ap, prefix+".*", depth+1)
		}
	}
	walk(root, "", 0)
	for i, k := range out {
		// `on: {schedule: ...}` is a list of one trigger.
		out[i] = strings.Replace(k, ".on.", ".on[].", 1)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestEveryKeyAppliesOrSaysWhyNot walks the schema's keys: each one either
// takes effect on `tug apply` (and says how) or names why it needs a
// restart. A new key without a row fails here.
func TestEveryKeyAppliesOrSaysWhyNot(t *testing.T) {
	t.Parallel()
	keys := schemaKeys(t)
	paths := slices.Sorted(slices.Values(KeyPaths()))
	// The matrix's axes are free keys: the schema says additionalProperties.
	if !slices.Equal(keys, slices.DeleteFunc(slices.Clone(paths), func(k string) bool { return strings.HasSuffix(k, "matrix.*") })) {
		t.Errorf("KeyPaths and the schema disagree:\n schema: %v\n types:  %v", keys, paths)
	}
	for _, k := range paths {
		r, ok := ReloadOf(k)
		switch {
		case !ok:
			t.Errorf("%s: not in the reload table: say whether `tug apply` applies it, or why it needs a restart", k)
		case (r.Applies == "") == (r.Restart == ""):
			t.Errorf("%s: %+v: exactly one of Applies and Restart must be set", k, r)
		}
	}
}

func TestRestartNeededNamesChangedKeys(t *testing.T) {
	t.Parallel()
	old := mustParse(t, "version: 1\nproxy: {http: 127.0.0.1:8080}\nlogs: {retention: 1h}\n")
	same := mustParse(t, "version: 1\nproxy: {http: 127.0.0.1:8080}\nlogs: {retention: 2h}\n")
	if got := RestartNeeded(old, same); len(got) != 0 {
		t.Errorf("live changes only: %+v", got)
	}
	moved := mustParse(t, "version: 1\nproxy: {http: 127.0.0.1:9090, access_log: false}\n")
	got := RestartNeeded(old, moved)
	var keys []string
	for _, r := range got {
		keys = append(keys, r.Key)
		if !strings.Contains(r.Reason, "tug down") {
			t.Errorf("%s: reason %q does not say how to restart", r.Key, r.Reason)
		}
	}
	if want := []string{"proxy.http", "proxy.access_log"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("restart keys %v, want %v", keys, want)
	}
}
