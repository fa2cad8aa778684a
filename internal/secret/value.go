// Package secret holds secret values so they cannot leak by accident:
// Value prints as <secret> everywhere, and Masker scrubs output streams.
package secret

import (
	"encoding/json"
	"log/slog"
)

// Value is a secret. Every way of printing it (fmt verbs, JSON, slog)
// shows "<secret>"; only Reveal gives the plain value.
//
// The plain text sits behind a pointer so that even fmt's reflection walk
// of a struct holding a Value in an unexported field (where String is not
// called) prints an address, never the text.
//
// It is a pointer to a string, not to a struct: fmt dereferences struct
// pointers in some paths (bad verbs), never string pointers.
type Value struct{ p *string }

// New wraps a plain value.
func New(text string) Value { return Value{p: &text} }

// Reveal returns the plain value, for the one place that must hand it on
// (a child process's environment). The zero Value reveals "".
func (s Value) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

const redacted = "<secret>"

// String implements fmt.Stringer.
func (s Value) String() string { return redacted }

// GoString implements fmt.GoStringer, so %#v hides it too.
func (s Value) GoString() string { return redacted }

// MarshalJSON implements json.Marshaler.
func (s Value) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText implements encoding.TextMarshaler.
func (s Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer.
func (s Value) LogValue() slog.Value { return slog.StringValue(redacted) }
