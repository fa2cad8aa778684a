package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/store"
)

// statusError is an error a handler raises with its HTTP status and code
// already decided (bad request bodies, unknown names).
type statusError struct {
	status int
	code   string
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// badRequest is a 400 with code "bad_request".
func badRequest(format string, args ...any) error {
	return &statusError{http.StatusBadRequest, "bad_request", fmt.Errorf(format, args...)}
}

// withStatus gives err a status and code, keeping it matchable.
func withStatus(status int, code string, err error) error {
	return &statusError{status, code, err}
}

// errorMapping is one row of the sentinel-to-HTTP table.
type errorMapping struct {
	target error
	status int
	code   string
}

// errorMappings is the one table from sentinel errors to HTTP answers.
// Order matters: the first match wins.
func errorMappings() []errorMapping {
	return []errorMapping{
		{config.ErrInvalid, http.StatusBadRequest, "invalid_config"},
		{ErrNotApplied, http.StatusUnprocessableEntity, "config_not_applied"},
		{deploy.ErrUnknownService, http.StatusNotFound, "unknown_service"},
		{deploy.ErrUnknownEnvironment, http.StatusNotFound, "unknown_environment"},
		{store.ErrNotFound, http.StatusNotFound, "not_found"},
		{store.ErrInvalid, http.StatusBadRequest, "bad_request"},
		{deploy.ErrBusy, http.StatusConflict, "busy"},
		{deploy.ErrNoPrevious, http.StatusConflict, "no_previous_release"},
		{deploy.ErrNotAwaiting, http.StatusConflict, "not_awaiting_approval"},
		{deploy.ErrFailedElsewhere, http.StatusConflict, "failed_elsewhere"},
		{deploy.ErrFailed, http.StatusUnprocessableEntity, "deploy_failed"},
		{proxy.ErrUnreachable, http.StatusServiceUnavailable, "proxy_unreachable"},
		{context.Canceled, http.StatusServiceUnavailable, "cancelled"},
		{context.DeadlineExceeded, http.StatusGatewayTimeout, "timeout"},
		{errors.ErrUnsupported, http.StatusNotImplemented, "not_implemented"},
	}
}

// toAPIError is the one place an error becomes an HTTP status and an
// Error body.
func toAPIError(err error) (int, *Error) {
	e := &Error{Code: "internal", Message: err.Error()}
	status := http.StatusInternalServerError
	var se *statusError
	if errors.As(err, &se) {
		status, e.Code = se.status, se.code
	} else {
		for _, m := range errorMappings() {
			if errors.Is(err, m.target) {
				status, e.Code = m.status, m.code
				break
			}
		}
	}
	if errors.Is(err, config.ErrInvalid) {
		e.Code = "invalid_config"
		e.Details = configDetails(err)
	}
	e.Status = status
	return status, e
}

// configDetails lists the positioned problems of a config error.
func configDetails(err error) []ErrorDetail {
	var list config.Errors
	var one *config.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = config.Errors{one}
	default:
		return nil
	}
	out := make([]ErrorDetail, len(list))
	for i, c := range list {
		out[i] = ErrorDetail{File: c.File, Line: c.Pos.Line, Col: c.Pos.Col, Path: c.Path, Message: c.Msg}
	}
	return out
}

// writeError answers with the JSON error envelope.
func writeError(w http.ResponseWriter, err error) {
	status, e := toAPIError(err)
	writeJSON(w, status, ErrorResponse{Error: *e})
}

// writeJSON answers with v as indented JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// maxBody bounds request bodies; the API takes small JSON documents.
const maxBody = 1 << 20

// decodeBody reads r's JSON body into v strictly: unknown fields, wrong
// types and trailing data are 400s that name the field. An empty body
// leaves v as it is when optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return badRequest("body: want a JSON object, got an empty body")
	}
	if err != nil {
		return badRequest("body: %s", describeJSONError(err))
	}
	if dec.More() {
		return badRequest("body: unexpected data after the JSON object")
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

// errNoMetrics: the server was built without a metrics handler.
var errNoMetrics = errors.New("this server exposes no metrics")
