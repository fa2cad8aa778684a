package proxy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/tugdev/tug/internal/flagset"
)

func keyHash(k string) string {
	s := sha256.Sum256([]byte(k))
	return hex.EncodeToString(s[:])
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// flagTable holds the flags of the specification's examples in
// production, and a key for staging.
func flagTable(version int64, killBanner bool) *Table {
	return &Table{Version: version, Routes: []*Route{}, Flags: &flagset.Set{Environments: map[string]*flagset.Env{
		"production": {Keys: map[string]string{keyHash("key-web"): "web"}, Flags: map[string]*flagset.Flag{
			"discount-banner": {Type: flagset.TypeBoolean, Variants: map[string]json.RawMessage{"enabled": raw("true"), "disabled": raw("false")},
				Default: "disabled", Rules: []flagset.Rule{{If: `ctx.country == "CA"`, Variant: "enabled"}}, Disabled: killBanner, Off: "disabled"},
			"theme-color": {Type: flagset.TypeString, Variants: map[string]json.RawMessage{"default": raw(`"blue"`), "dark": raw(`"black"`)}, Default: "default"},
			"my-flag": {Type: flagset.TypeObject, Variants: map[string]json.RawMessage{"a": raw(`{"n":1}`), "b": raw(`{"n":2}`)}, Default: "a",
				Rollout: []flagset.Share{{Variant: "a", Percent: 50}, {Variant: "b", Percent: 50}}, Metadata: map[string]any{"team": "ecommerce"}},
			"age-gate": {Type: flagset.TypeNumber, Variants: map[string]json.RawMessage{"low": raw("1"), "high": raw("2.5")}, Default: "low",
				Rules: []flagset.Rule{{If: `ctx.age > 18`, Variant: "high"}}},
		}},
		"staging": {Keys: map[string]string{keyHash("key-staging"): "web"}, Flags: map[string]*flagset.Flag{}},
	}}}
}

// ofrepSpec is the specification's document: its examples and schemas.
type ofrepSpec struct {
	doc     map[string]any
	schemas *jsonschema.Compiler
}

func loadSpec(t *testing.T) *ofrepSpec {
	t.Helper()
	b, err := os.ReadFile("testdata/ofrep-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	// The answers are validated against the components' schemas. Their
	// oneOf of value types cannot hold as written (codeDefaultFlag admits
	// every object, and an integer is a number too), so it is read as
	// anyOf: an answer must still be one of the value shapes.
	var anyOf func(v any) any
	anyOf = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			out := map[string]any{}
			for k, e := range x {
				if k == "oneOf" {
					k = "anyOf"
				}
				out[k] = anyOf(e)
			}
			return out
		case []any:
			for i := range x {
				x[i] = anyOf(x[i])
			}
		}
		return v
	}
	jb, err := json.Marshal(anyOf(doc))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(jb))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("ofrep.json", inst); err != nil {
		t.Fatal(err)
	}
	return &ofrepSpec{doc: doc, schemas: c}
}

// at walks the document by keys.
func (s *ofrepSpec) at(t *testing.T, path ...string) any {
	t.Helper()
	var v any = s.doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok || m[k] == nil {
			t.Fatalf("the specification has no %s", strings.Join(path, " / "))
		}
		v = m[k]
	}
	return v
}

// validate checks body against components/schemas/name.
func (s *ofrepSpec) validate(t *testing.T, name, body string) {
	t.Helper()
	sch, err := s.schemas.Compile("ofrep.json#/components/schemas/" + name)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(body))
	if err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, body)
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("answer does not match the specification's %s: %v\n%s", name, err, body)
	}
}

func ofrepCall(t *testing.T, p *testProxy, env, key, apiKey string, body any, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	var b []byte
	switch x := body.(type) {
	case string:
		b = []byte(x)
	default:
		b, _ = json.Marshal(x)
	}
	path := FlagsPathPrefix + env + "/ofrep/v1/evaluate/flags"
	if key != "" {
		path += "/" + key
	}
	h := http.Header{"Content-Type": {"application/json"}}
	if apiKey != "" {
		h.Set("Authorization", "Bearer "+apiKey)
	}
	for k, v := range hdr {
		h[k] = v
	}
	return p.do(t, http.DefaultClient, "POST", strings.TrimPrefix(p.url, "http://"), path, bytes.NewReader(b), h)
}

func decodeObj(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("not a JSON object: %v: %q", err, body)
	}
	return m
}

// sameFields compares every field the example has, except free text
// (errorDetails), which must only be a string.
func sameFields(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%s: field %q missing (example: %v)", what, k, w)
		case k == "errorDetails":
			if _, isStr := g.(string); !isStr {
				t.Errorf("%s: errorDetails %v is not a string", what, g)
			}
		default:
			gb, _ := json.Marshal(g)
			wb, _ := json.Marshal(w)
			if !bytes.Equal(gb, wb) {
				t.Errorf("%s: %s = %s, the specification's example says %s", what, k, gb, wb)
			}
		}
	}
}

// TestOFREPMatchesTheSpecificationExamples sends the specification's
// request examples and compares the answers field by field with its
// answer examples, and validates every answer against its schema.
func TestOFREPMatchesTheSpecificationExamples(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t)
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, flagTable(1, false))
	single := []string{"paths", "/ofrep/v1/evaluate/flags/{key}", "post"}
	bulk := []string{"paths", "/ofrep/v1/evaluate/flags", "post"}
	resp := func(op []string, code string) map[string]any {
		return spec.at(t, append(append([]string{}, op...), "responses", code, "content", "application/json", "example")...).(map[string]any)
	}
	singleReq := spec.at(t, append(append([]string{}, single...), "requestBody", "content", "application/json", "example")...)
	bulkReq := spec.at(t, append(append([]string{}, bulk...), "requestBody", "content", "application/json", "example")...)

	// 200: a targeting match.
	want := resp(single, "200")
	code, body, hdr := ofrepCall(t, p, "production", want["key"].(string), "key-web", singleReq, nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("single: %d %s", code, body)
	}
	sameFields(t, "single 200", decodeObj(t, body), want)
	if got := decodeObj(t, body); len(got) != len(want) {
		t.Errorf("single 200: fields %v, the example has exactly %v", got, want)
	}
	spec.validate(t, "serverEvaluationSuccess", body)

	// 404: an unknown flag.
	want = resp(single, "404")
	code, body, _ = ofrepCall(t, p, "production", want["key"].(string), "key-web", singleReq, nil)
	if code != 404 {
		t.Fatalf("unknown flag: %d %s", code, body)
	}
	sameFields(t, "single 404", decodeObj(t, body), want)
	spec.validate(t, "flagNotFound", body)

	// 400: a context of the wrong shape.
	want = resp(single, "400")
	code, body, _ = ofrepCall(t, p, "production", want["key"].(string), "key-web", `{"context":{"targetingKey":42}}`, nil)
	if code != 400 {
		t.Fatalf("bad context: %d %s", code, body)
	}
	sameFields(t, "single 400", decodeObj(t, body), want)
	spec.validate(t, "evaluationFailure", body)

	// Bulk 200: every flag, the examples' among them, with an ETag.
	want = resp(bulk, "200")
	code, body, hdr = ofrepCall(t, p, "production", "", "key-web", bulkReq, nil)
	if code != 200 || hdr.Get("ETag") == "" {
		t.Fatalf("bulk: %d %s (ETag %q)", code, body, hdr.Get("ETag"))
	}
	spec.validate(t, "bulkEvaluationSuccess", body)
	got := decodeObj(t, body)
	byKey := map[string]map[string]any{}
	for _, f := range got["flags"].([]any) {
		byKey[f.(map[string]any)["key"].(string)] = f.(map[string]any)
	}
	for _, wf := range want["flags"].([]any) {
		w := wf.(map[string]any)
		k := w["key"].(string)
		if w["errorCode"] == "FLAG_NOT_FOUND" {
			continue // a bulk answer lists the flags that exist; the single 404 above answers this one
		}
		if byKey[k] == nil {
			t.Errorf("bulk: no answer for %s", k)
			continue
		}
		sameFields(t, "bulk "+k, byKey[k], w)
	}
	if md, _ := got["metadata"].(map[string]any); md == nil || md["version"] == nil {
		t.Errorf("bulk: metadata %v has no version (the example: %v)", got["metadata"], want["metadata"])
	}
	// 304 when the flags have not changed.
	etag := hdr.Get("ETag")
	if code, body, _ := ofrepCall(t, p, "production", "", "key-web", bulkReq, http.Header{"If-None-Match": {etag}}); code != 304 || body != "" {
		t.Errorf("If-None-Match of the current ETag: %d %q, want 304 and no body", code, body)
	}
	// Bulk 400.
	want = resp(bulk, "400")
	code, body, _ = ofrepCall(t, p, "production", "", "key-web", `{"context": "x"}`, nil)
	if code != 400 {
		t.Fatalf("bulk bad context: %d %s", code, body)
	}
	sameFields(t, "bulk 400", decodeObj(t, body), want)
	spec.validate(t, "bulkEvaluationFailure", body)
}

// TestOFREPBadInputNeverA500: every wrongly shaped request gets its OFREP
// error code and a 4xx.
func TestOFREPBadInputNeverA500(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t)
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, flagTable(1, false))
	cases := []struct {
		name, key, body string
		status          int
		code            string
	}{
		{"not JSON", "theme-color", `{"context":`, 400, flagset.ErrParse},
		{"no context", "theme-color", `{}`, 400, flagset.ErrInvalidContext},
		{"context a list", "theme-color", `{"context":[1,2]}`, 400, flagset.ErrInvalidContext},
		{"targetingKey a number", "theme-color", `{"context":{"targetingKey":1}}`, 400, flagset.ErrInvalidContext},
		{"rule over a string", "age-gate", `{"context":{"targetingKey":"u","age":"old"}}`, 400, flagset.ErrInvalidContext},
		{"rollout without a key", "my-flag", `{"context":{}}`, 400, flagset.ErrTargetingKeyMissing},
		{"rollout with a key", "my-flag", `{"context":{"targetingKey":"u1"}}`, 200, ""},
	}
	for _, c := range cases {
		code, body, _ := ofrepCall(t, p, "production", c.key, "key-web", c.body, nil)
		m := decodeObj(t, body)
		if code != c.status || (c.code != "" && m["errorCode"] != c.code) || m["key"] != c.key {
			t.Errorf("%s: %d %s, want %d %s", c.name, code, body, c.status, c.code)
		}
		if c.code != "" {
			spec.validate(t, "evaluationFailure", body)
		} else {
			spec.validate(t, "serverEvaluationSuccess", body)
		}
	}
	// In a bulk answer, a flag that cannot be evaluated is a failure item.
	_, body, _ := ofrepCall(t, p, "production", "", "key-web", `{"context":{"age":3}}`, nil)
	if !strings.Contains(body, `{"key":"my-flag","errorCode":"TARGETING_KEY_MISSING"`) {
		t.Errorf("bulk without a targeting key: %s", body)
	}
	spec.validate(t, "bulkEvaluationSuccess", body)
	if code, _, hdr := p.do(t, http.DefaultClient, "GET", strings.TrimPrefix(p.url, "http://"), FlagsPathPrefix+"production/ofrep/v1/evaluate/flags", nil, nil); code != 405 || hdr.Get("Allow") != "POST" {
		t.Errorf("GET: %d, want 405 with Allow: POST", code)
	}
}

// TestOFREPClientKeys: the key of the environment is needed; another
// environment's is forbidden there.
func TestOFREPClientKeys(t *testing.T) {
	t.Parallel()
	p := startProxy(t, stateDir(t), nil)
	p.apply(t, flagTable(1, false))
	ctx := `{"context":{"targetingKey":"u"}}`
	if code, _, hdr := ofrepCall(t, p, "production", "theme-color", "", ctx, nil); code != 401 || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("no key: %d", code)
	}
	if code, _, _ := ofrepCall(t, p, "production", "theme-color", "guess", ctx, nil); code != 401 {
		t.Errorf("unknown key: %d", code)
	}
	if code, _, _ := ofrepCall(t, p, "production", "theme-color", "key-staging", ctx, nil); code != 403 {
		t.Errorf("staging's key in production: %d", code)
	}
	if code, _, _ := ofrepCall(t, p, "production", "theme-color", "", ctx, http.Header{"X-Api-Key": {"key-web"}}); code != 200 {
		t.Errorf("X-API-Key: %d", code)
	}
	if code, body, _ := ofrepCall(t, p, "staging", "theme-color", "key-staging", ctx, nil); code != 404 || !strings.Contains(body, "FLAG_NOT_FOUND") {
		t.Errorf("staging has no such flag: %d %s", code, body)
	}
}

// TestFlagsChangeAndSurviveRestart: a new table changes answers and the
// ETag at once; a restarted proxy answers with the last flags it had;
// evaluations are counted by flag, variant and environment; a routed
// host's own path is not taken.
func TestFlagsChangeAndSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := stateDir(t)
	p := startProxy(t, dir, nil)
	tab := flagTable(1, false)
	be := namedBackend(t, "app")
	tab.Routes = []*Route{{Host: "app.test", Service: "web", Environment: "production", Pools: []*Pool{mkPool("r1", 1, hostOf(be))}}}
	p.apply(t, tab)
	ctx := `{"context":{"targetingKey":"u","country":"CA"}}`
	_, body, hdr := ofrepCall(t, p, "production", "discount-banner", "key-web", ctx, nil)
	if !strings.Contains(body, `"value":true`) {
		t.Fatalf("before the kill: %s", body)
	}
	_, _, bulkHdr := ofrepCall(t, p, "production", "", "key-web", ctx, nil)
	killed := flagTable(2, true)
	killed.Routes = tab.Routes
	p.apply(t, killed)
	_, body, _ = ofrepCall(t, p, "production", "discount-banner", "key-web", ctx, nil)
	if !strings.Contains(body, `"value":false,"reason":"DISABLED","variant":"disabled"`) {
		t.Fatalf("after the kill: %s", body)
	}
	if code, _, h := ofrepCall(t, p, "production", "", "key-web", ctx, http.Header{"If-None-Match": {bulkHdr.Get("ETag")}}); code != 200 || h.Get("ETag") == bulkHdr.Get("ETag") {
		t.Errorf("bulk after a change with the old ETag: %d, ETag %s", code, h.Get("ETag"))
	}
	_ = hdr
	metrics, err := p.client.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tug_flag_evaluations_total{environment="production",flag="discount-banner",variant="enabled"} 2`,
		`tug_flag_evaluations_total{environment="production",flag="discount-banner",variant="disabled"} 2`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
	if code, body, _ := p.do(t, http.DefaultClient, "POST", "app.test", FlagsPathPrefix+"production/ofrep/v1/evaluate/flags", strings.NewReader(ctx), nil); code != 200 || body != "app" {
		t.Errorf("a routed host's path went elsewhere: %d %q", code, body)
	}

	p.stop()
	p2 := startProxy(t, dir, nil)
	_, body, _ = ofrepCall(t, p2, "production", "discount-banner", "key-web", ctx, nil)
	if !strings.Contains(body, `"reason":"DISABLED"`) {
		t.Errorf("after a restart: %s, want the last flags (killed)", body)
	}
}

func TestFlagsURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/_tug/flags/production",
		"0.0.0.0:80":     "http://127.0.0.1:80/_tug/flags/production",
		":8080":          "http://127.0.0.1:8080/_tug/flags/production",
		"[::1]:8080":     "http://[::1]:8080/_tug/flags/production",
	} {
		if got := FlagsURL(addr, "production"); got != want {
			t.Errorf("FlagsURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestInvalidFlagsRefuseTheTable(t *testing.T) {
	t.Parallel()
	tab := flagTable(1, false)
	tab.Flags.Environments["production"].Flags["theme-color"].Default = "nope"
	if err := Validate(tab); err == nil || !strings.Contains(err.Error(), "flags: invalid flag set: environments.production.flags.theme-color.default") {
		t.Errorf("Validate: %v", err)
	}
}
