package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type wireInner struct {
	Note string `json:"note,omitempty"`
}

type wireOuter struct {
	wireInner
	Name  string            `json:"name"`
	At    time.Time         `json:"at"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs,omitempty"`
	Next  *wireOuter        `json:"next,omitempty"`
	Raw   json.RawMessage   `json:"raw"`
	Skip  string            `json:"-"`
}

type wireEnvelope[D any] struct {
	Data D `json:"data"`
}

// The wire mode describes what encoding/json writes: json names,
// embedded fields flattened, omitempty ones optional, nil slices, maps
// and pointers as null, generic types named after their arguments.
func TestWireSchemas(t *testing.T) {
	t.Parallel()
	w := NewWireSchemas("#/components/schemas/", nil)
	ref := w.Of(reflect.TypeFor[wireEnvelope[[]wireOuter]]())
	if ref["$ref"] != "#/components/schemas/wireEnvelopeOfListWireOuter" {
		t.Fatalf("ref = %v", ref)
	}
	b, _ := json.Marshal(w.Defs())
	got := string(b)
	for _, want := range []string{
		`"wireOuter":{"properties":{"at":{"format":"date-time","type":"string"}`,
		`"note":{"type":"string"}`,
		`"tags":{"items":{"type":"string"},"type":["array","null"]}`,
		`"next":{"anyOf":[{"$ref":"#/components/schemas/wireOuter"},{"type":"null"}]}`,
		`"raw":{"description":"any JSON value"}`,
		`"required":["name","at","tags","raw"]`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
	if strings.Contains(got, "Skip") || strings.Contains(got, "#/$defs/") {
		t.Errorf("a skipped field or a tug.yaml reference:\n%s", got)
	}
}
