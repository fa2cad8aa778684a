package flagset

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// OFREP, the OpenFeature Remote Evaluation Protocol: the request body of
// both evaluation endpoints is {"context": {...}}; a single evaluation
// answers an evaluationSuccess or evaluationFailure object, a bulk one
// {"flags": [...], "metadata": {...}} (package wire has them as types).
// The encoders below append the answers by hand: the values are compacted
// once at Compile, so an answer costs a few appends and no reflection.

// ParseRequest reads an evaluation request's body. On failure it returns
// the OFREP error code (PARSE_ERROR for a body that is not a JSON object,
// INVALID_CONTEXT for a context of the wrong shape) and details.
func ParseRequest(body []byte) (ctx map[string]any, code, details string) {
	var raw struct {
		Context json.RawMessage `json:"context"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, ErrParse, "the request body is not a JSON object: " + err.Error()
	}
	if len(raw.Context) == 0 || bytes.Equal(raw.Context, []byte("null")) {
		return nil, ErrInvalidContext, "the request has no context: send {\"context\": {\"targetingKey\": ...}}"
	}
	if err := json.Unmarshal(raw.Context, &ctx); err != nil || ctx == nil {
		return nil, ErrInvalidContext, "context must be a JSON object"
	}
	if msg := ContextError(ctx); msg != "" {
		return nil, ErrInvalidContext, msg
	}
	return ctx, "", ""
}

// AppendResult appends r as an OFREP evaluationSuccess, evaluationFailure
// or flagNotFound object.
func AppendResult(dst []byte, r *Result) []byte {
	dst = append(dst, `{"key":`...)
	dst = appendString(dst, r.Key)
	if r.ErrorCode != "" {
		dst = append(dst, `,"errorCode":`...)
		dst = appendString(dst, r.ErrorCode)
		if r.ErrorDetails != "" {
			dst = append(dst, `,"errorDetails":`...)
			dst = appendString(dst, r.ErrorDetails)
		}
	} else {
		dst = append(dst, `,"value":`...)
		dst = append(dst, r.Value()...)
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, r.Reason)
		dst = append(dst, `,"variant":`...)
		dst = appendString(dst, r.VariantName())
	}
	if md := r.Metadata(); md != nil {
		dst = append(dst, `,"metadata":`...)
		dst = append(dst, md...)
	}
	return append(dst, '}')
}

// AppendBulk appends a bulk answer: every result, and the metadata of the
// flag set (its environment and version).
func AppendBulk(dst []byte, env string, etag string, results []Result) []byte {
	dst = append(dst, `{"flags":[`...)
	for i := range results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendResult(dst, &results[i])
	}
	dst = append(dst, `],"metadata":{"environment":`...)
	dst = appendString(dst, env)
	dst = append(dst, `,"version":`...)
	dst = appendString(dst, unquote(etag))
	return append(dst, `}}`...)
}

// AppendFailure appends a failure of a whole request: OFREP's
// evaluationFailure (with the flag's key) for a single evaluation,
// bulkEvaluationFailure (key "") for a bulk one.
func AppendFailure(dst []byte, key, code, details string) []byte {
	dst = append(dst, '{')
	if key != "" {
		dst = append(dst, `"key":`...)
		dst = appendString(dst, key)
		dst = append(dst, ',')
	}
	dst = append(dst, `"errorCode":`...)
	dst = appendString(dst, code)
	if details != "" {
		dst = append(dst, `,"errorDetails":`...)
		dst = appendString(dst, details)
	}
	return append(dst, '}')
}

// AppendGeneral appends OFREP's generalErrorResponse (401, 403, 500, ...).
func AppendGeneral(dst []byte, details string) []byte {
	dst = append(dst, `{"errorDetails":`...)
	dst = appendString(dst, details)
	return append(dst, '}')
}

func unquote(etag string) string {
	if s, err := strconv.Unquote(etag); err == nil {
		return s
	}
	return etag
}

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
