// Package wire is OFREP's answer as a reader decodes it: the proxy's
// encoders (flagset) write these fields, and tug's Go provider
// (pkg/tugflags) reads them. It imports nothing, so an app that uses the
// provider compiles nothing else of tug's.
package wire

import "encoding/json"

// Evaluation is one flag's answer: a success (value, reason, variant) or
// a failure (errorCode, errorDetails). A success without a value defers
// to the code's default (OFREP's codeDefaultFlag).
type Evaluation struct {
	Key          string          `json:"key"`
	Value        json.RawMessage `json:"value,omitempty"`
	Reason       string          `json:"reason,omitempty"`
	Variant      string          `json:"variant,omitempty"`
	Metadata     map[string]any  `json:"metadata,omitempty"`
	ErrorCode    string          `json:"errorCode,omitempty"`
	ErrorDetails string          `json:"errorDetails,omitempty"`
}

// Bulk is the answer of a bulk evaluation.
type Bulk struct {
	Flags    []Evaluation   `json:"flags"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Failure is the answer to a request that failed as a whole.
type Failure struct {
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails,omitempty"`
}
