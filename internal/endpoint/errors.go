package endpoint

import (
	"errors"
	"fmt"
	"net/http"
)

// Code is the machine-readable kind of an error answer. The codes and
// their HTTP statuses are listed here and nowhere else.
type Code string

// The error codes of tug's API.
const (
	CodeBadRequest         Code = "bad_request"
	CodeInvalidConfig      Code = "invalid_config"
	CodeUnsupportedMedia   Code = "unsupported_media_type"
	CodeUnauthorized       Code = "unauthorized"
	CodeForbidden          Code = "forbidden"
	CodeNotFound           Code = "not_found"
	CodeNoRoute            Code = "no_route"
	CodeUnknownService     Code = "unknown_service"
	CodeUnknownEnvironment Code = "unknown_environment"
	CodeMethodNotAllowed   Code = "method_not_allowed"
	CodeBusy               Code = "busy"
	CodeNoPreviousRelease  Code = "no_previous_release"
	CodeNotAwaiting        Code = "not_awaiting_approval"
	CodeDeployFailed       Code = "deploy_failed"
	CodeInternal           Code = "internal"
	CodeNotImplemented     Code = "not_implemented"
	CodeUnavailable        Code = "unavailable"
	CodeProxyUnreachable   Code = "proxy_unreachable"
	CodeCancelled          Code = "cancelled"
	CodeTimeout            Code = "timeout"
	CodeConfigNotApplied   Code = "config_not_applied"
	CodeFailedElsewhere    Code = "failed_elsewhere"
	CodeInvalidState       Code = "invalid_state"
)

// Codes lists every code, for the OpenAPI document.
func Codes() []Code {
	return []Code{CodeBadRequest, CodeInvalidConfig, CodeUnsupportedMedia, CodeUnauthorized, CodeForbidden, CodeNotFound,
		CodeNoRoute, CodeUnknownService, CodeUnknownEnvironment, CodeMethodNotAllowed, CodeBusy,
		CodeNoPreviousRelease, CodeNotAwaiting, CodeDeployFailed, CodeInternal, CodeNotImplemented,
		CodeUnavailable, CodeProxyUnreachable, CodeCancelled, CodeTimeout, CodeConfigNotApplied, CodeFailedElsewhere, CodeInvalidState}
}

// Status is the HTTP status of an answer with code c.
func (c Code) Status() int {
	switch c {
	case CodeBadRequest, CodeInvalidConfig:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound, CodeNoRoute, CodeUnknownService, CodeUnknownEnvironment:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeBusy, CodeNoPreviousRelease, CodeNotAwaiting, CodeFailedElsewhere, CodeInvalidState:
		return http.StatusConflict
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case CodeDeployFailed, CodeConfigNotApplied:
		return http.StatusUnprocessableEntity
	case CodeNotImplemented:
		return http.StatusNotImplemented
	case CodeUnavailable, CodeProxyUnreachable, CodeCancelled:
		return http.StatusServiceUnavailable
	case CodeTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// failure is an error with its code decided where it was raised.
type failure struct {
	code Code
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// Fail gives err a code; errors.Is and errors.As still see err.
func Fail(code Code, err error) error { return &failure{code, err} }

// Failf is Fail with a formatted error.
func Failf(code Code, format string, args ...any) error {
	return &failure{code, fmt.Errorf(format, args...)}
}

// CodeOf is the code Fail gave err (or an error it wraps).
func CodeOf(err error) (Code, bool) {
	var f *failure
	if errors.As(err, &f) {
		return f.code, true
	}
	return "", false
}

// ErrorCode maps errors matching Err (errors.Is) to Code.
type ErrorCode struct {
	Err  error
	Code Code
}

// Error is the body of an error answer, inside ErrorResponse, and the
// error the client returns for one.
type Error struct {
	// Status is the HTTP status (not in the body).
	Status  int    `json:"-"`
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Details position each problem of an invalid config (code
	// invalid_config) so editors can jump to it.
	Details []Detail `json:"details,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Detail is one positioned problem in a config file.
type Detail struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// ErrorResponse is every error answer of tug's API:
// {"error": {"code", "message", "details"?}}.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Describe is the error answer for err: the code Fail gave it, else the
// first row of codes it matches, else internal; details, when given,
// positions its problems.
func Describe(err error, codes []ErrorCode, details func(error) []Detail) *Error {
	code, ok := CodeOf(err)
	for i := 0; !ok && i < len(codes); i++ {
		if errors.Is(err, codes[i].Err) {
			code, ok = codes[i].Code, true
		}
	}
	if !ok {
		code = CodeInternal
	}
	e := &Error{Status: code.Status(), Code: code, Message: err.Error()}
	if details != nil {
		e.Details = details(err)
	}
	return e
}
