package endpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// MaxBody bounds request bodies: the API takes small JSON documents.
const MaxBody = 1 << 20

// decodeBody reads r's JSON body into v strictly: unknown fields, wrong
// types and trailing data are bad requests that name the field. An empty
// body leaves v as it is when optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, MaxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return Failf(CodeBadRequest, "body: want a JSON object, got an empty body")
	}
	if err != nil {
		return Failf(CodeBadRequest, "body: %s", describeJSONError(err))
	}
	if dec.More() {
		return Failf(CodeBadRequest, "body: unexpected data after the JSON object")
	}
	return nil
}

// describeJSONError turns encoding/json's errors into messages that name
// the field and what was wrong with it.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Sprintf("want a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Sprintf("field %q: want %s, got %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "number"
	case "bool":
		return "boolean"
	}
	return goKind
}

func jsonBody(v any) ([]byte, error) { return json.Marshal(v) }

// WriteJSON answers with v as indented JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", MediaJSON)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // JSON, never HTML: "<secret>" stays readable
	_ = enc.Encode(v)
}

// lineWriter writes an NDJSON answer, starting it at the first line.
type lineWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	enc     *json.Encoder
	started bool
}

func newLineWriter(w http.ResponseWriter) *lineWriter {
	return &lineWriter{w: w, rc: http.NewResponseController(w), enc: json.NewEncoder(w)}
}

func (s *lineWriter) start() {
	if !s.started {
		s.w.Header().Set("Content-Type", MediaNDJSON)
		s.w.Header().Set("Cache-Control", "no-store")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
}

func (s *lineWriter) send(v any) error {
	s.start()
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	return s.rc.Flush()
}
