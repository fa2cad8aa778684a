// Package endpoint declares the operations of tug's HTTP API: how each
// is reached (method and path), what it takes (typed path and query
// parameters, a JSON body), what it answers, and which role may call it.
// Rooms declare their operations with these types without importing the
// api room; the api room lists every room's operations in its one route
// table, serves them through one Router and generates the OpenAPI
// document from them. The client builds its requests from the same
// declarations, so handler, client and document cannot drift.
package endpoint

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
)

// Role is who may call an operation. Roles are ordered: an admin may do
// what a deployer may, a deployer what a viewer may.
type Role string

// The roles, from least to most trusted.
const (
	// Viewer reads: status, releases, alerts, logs, metrics.
	Viewer Role = "viewer"
	// Deployer changes what runs: deploys, rollbacks, approvals, acks.
	Deployer Role = "deployer"
	// Admin changes how tug behaves: config, silences, (later) secrets
	// and tokens.
	Admin Role = "admin"
)

// Roles lists the roles from least to most trusted.
func Roles() []Role { return []Role{Viewer, Deployer, Admin} }

// Allows says whether a caller with role r may call an operation that
// requires need.
func (r Role) Allows(need Role) bool { return r.rank() >= need.rank() && need.rank() > 0 }

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Deployer:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// None is the parameter or body type of an operation that takes none.
type None struct{}

// Media types of answers.
const (
	MediaJSON   = "application/json"
	MediaNDJSON = "application/x-ndjson"
)

// Decl is an operation's signature: how it is reached and what it takes
// and answers. P is its parameters, a struct whose fields carry
// `path:"name"` or `query:"name"` tags (",required" and a `doc:"..."` tag
// document them; string, []string, int and bool fields are supported); B
// is its JSON body; R is its answer (one line of it, for a stream). None
// stands for no parameters or no body. A Decl is a value: declare it
// once, bind it to a handler with JSON, Stream or Write, and call it from
// the client with Request.
type Decl[P, B, R any] struct{ spec }

type spec struct {
	method, path, summary string
	role                  Role
	safe, optionalBody    bool
	signed, audited       bool
}

// Declare returns the declaration of an operation.
func Declare[P, B, R any](method, path string, role Role, summary string) Decl[P, B, R] {
	return Decl[P, B, R]{spec{method: method, path: path, role: role, summary: summary}}
}

// Safe marks a POST that only reads (Prometheus's form POST of a long
// query): its parameters may come as a form body, and it is not a change
// that needs a JSON body.
func (d Decl[P, B, R]) Safe() Decl[P, B, R] {
	d.safe = true
	return d
}

// OptionalBody lets the JSON body be empty (its zero value is used).
func (d Decl[P, B, R]) OptionalBody() Decl[P, B, R] {
	d.optionalBody = true
	return d
}

// Signed marks an operation that authenticates its caller itself, by a
// signature over the request (a forge's webhook): no API token is asked
// for, and the handler must refuse a bad or missing signature with
// CodeUnauthorized before it acts. Its body is whatever the sender
// posts, not necessarily JSON.
func (d Decl[P, B, R]) Signed() Decl[P, B, R] {
	d.signed = true
	return d
}

// Audited marks a read that the audit log records like a change (a
// secret revealed). Every operation that Mutates is recorded anyway.
func (d Decl[P, B, R]) Audited() Decl[P, B, R] {
	d.audited = true
	return d
}

// Method is the operation's HTTP method.
func (d Decl[P, B, R]) Method() string { return d.method }

// Path is the operation's path pattern ("/api/releases/{id}/approve").
func (d Decl[P, B, R]) Path() string { return d.path }

// Role is the least role that may call the operation (a page shows an
// action's button only to callers who have it).
func (d Decl[P, B, R]) Role() Role { return d.role }

// Summary is the operation's one-line description.
func (d Decl[P, B, R]) Summary() string { return d.summary }

// Request is what a client sends for p and b: the method, the request
// target (path with its parameters filled in, and the query), and the
// JSON body (nil when the operation takes none).
func (d Decl[P, B, R]) Request(p P, b B) (method, target string, body []byte, err error) {
	params, err := paramsOf(reflect.TypeFor[P]())
	if err != nil {
		return "", "", nil, err
	}
	target, err = encodeParams(d.path, params, reflect.ValueOf(p))
	if err != nil {
		return "", "", nil, err
	}
	if reflect.TypeFor[B]() != noneType {
		if body, err = jsonBody(b); err != nil {
			return "", "", nil, err
		}
	}
	return d.method, target, body, nil
}

// Op is one bound operation, as the Router serves it and the OpenAPI
// document describes it. Its exported fields are read-only.
type Op struct {
	Method, Path, Summary string
	Role                  Role
	// Safe says a POST only reads (see Decl.Safe).
	Safe bool
	// Signed says the operation authenticates its caller by a signature
	// over the request, not by an API token (see Decl.Signed).
	Signed bool
	// Audited says the audit log records calls of this read (see
	// Decl.Audited); calls of operations that Mutate are always recorded.
	Audited bool
	// Params, Body and Answer are the declared types; Params and Body are
	// nil when the operation takes none.
	Params, Body, Answer reflect.Type
	// Media is the media type of a successful answer; Stream says it is
	// a sequence of Answer values (NDJSON).
	Media  string
	Stream bool
	// ErrorBody is the type of the operation's error answers when it
	// writes its own (another protocol's envelope); nil means tug's
	// ErrorResponse.
	ErrorBody reflect.Type

	params       []param
	paramsErr    error
	optionalBody bool
	serve        func(w http.ResponseWriter, r *http.Request, o *Op) error
	writeErr     func(w http.ResponseWriter, err error)
	scope        string
}

// BodyRequired says the JSON body may not be empty.
func (o *Op) BodyRequired() bool { return o.Body != nil && !o.optionalBody }

// Pattern is the operation's http.ServeMux pattern.
func (o *Op) Pattern() string { return o.Method + " " + o.Path }

// Mutates says the operation changes something: any method but GET and
// HEAD, unless declared Safe.
func (o *Op) Mutates() bool {
	return o.Method != http.MethodGet && o.Method != http.MethodHead && !o.Safe
}

// Parameters lists the operation's path and query parameters.
func (o *Op) Parameters() []Param {
	out := make([]Param, len(o.params))
	for i, p := range o.params {
		out[i] = Param{Name: p.name, In: p.in, Doc: p.doc, Required: p.required || p.in == inPath, Type: p.typ}
	}
	return out
}

// Param is one documented parameter of an operation.
type Param struct {
	Name string
	In   string // "path" or "query"
	Doc  string
	// Required is true for path parameters and required query ones.
	Required bool
	Type     reflect.Type
}

// WithErrors makes the operation write its own error answers (another
// protocol's envelope, of type body) with write: every error of the
// operation, and the answers to requests that no operation matches under
// scope (a path prefix such as "/api/v1/"), which get errors made by
// Fail (see CodeOf).
func (o Op) WithErrors(body any, scope string, write func(w http.ResponseWriter, err error)) Op {
	o.ErrorBody = reflect.TypeOf(body)
	o.scope = scope
	o.writeErr = write
	return o
}

var noneType = reflect.TypeFor[None]()

func typeOrNil[T any]() reflect.Type {
	if t := reflect.TypeFor[T](); t != noneType {
		return t
	}
	return nil
}

func (d Decl[P, B, R]) op(media string, stream bool) Op {
	o := Op{
		Method: d.method, Path: d.path, Summary: d.summary, Role: d.role, Safe: d.safe,
		Signed: d.signed, Audited: d.audited,
		Params: typeOrNil[P](), Body: typeOrNil[B](), Answer: reflect.TypeFor[R](),
		Media: media, Stream: stream, optionalBody: d.optionalBody,
	}
	o.params, o.paramsErr = paramsOf(reflect.TypeFor[P]())
	return o
}

// decode reads the parameters and the body of r.
func decode[P, B any](r *http.Request, o *Op) (p P, b B, err error) {
	if err = decodeParams(r, o, reflect.ValueOf(&p).Elem()); err != nil || o.Body == nil {
		return p, b, err
	}
	return p, b, decodeBody(r, &b, o.optionalBody)
}

// JSON binds fn to the declaration: the Router decodes P and B, calls fn
// with the request's context, and answers fn's R as JSON (200).
func (d Decl[P, B, R]) JSON(fn func(ctx context.Context, p P, b B) (R, error)) Op {
	o := d.op(MediaJSON, false)
	o.serve = func(w http.ResponseWriter, r *http.Request, o *Op) error {
		p, b, err := decode[P, B](r, o)
		if err != nil {
			return err
		}
		out, err := fn(r.Context(), p, b)
		if err != nil {
			return err
		}
		WriteJSON(w, http.StatusOK, out)
		return nil
	}
	return o
}

// Stream binds fn to the declaration; its answer is NDJSON, one R per
// call of send, each flushed at once. The status line waits for the first
// send (or fn's return), so an error fn returns before it is answered with its own status;
// an error after it ends the answer (and is logged). send fails once the
// client has gone.
func (d Decl[P, B, R]) Stream(fn func(ctx context.Context, p P, b B, send func(R) error) error) Op {
	o := d.op(MediaNDJSON, true)
	o.serve = func(w http.ResponseWriter, r *http.Request, o *Op) error {
		p, b, err := decode[P, B](r, o)
		if err != nil {
			return err
		}
		s := newLineWriter(w)
		if err := fn(r.Context(), p, b, func(v R) error { return s.send(v) }); err != nil {
			return err
		}
		s.start() // an empty answer is still one
		return nil
	}
	return o
}

// Write binds fn, which writes its own successful answer of media type
// media (a text exposition, another protocol's envelope of type R); the
// Router decodes P first, and writes the errors fn returns.
func (d Decl[P, B, R]) Write(media string, fn func(w http.ResponseWriter, r *http.Request, p P) error) Op {
	o := d.op(media, false)
	o.serve = func(w http.ResponseWriter, r *http.Request, o *Op) error {
		// Only the parameters: fn reads the body itself (a signed
		// webhook's signature is over its bytes).
		var p P
		if err := decodeParams(r, o, reflect.ValueOf(&p).Elem()); err != nil {
			return err
		}
		return fn(w, r, p)
	}
	return o
}

func (o *Op) validate() error {
	switch {
	case o.serve == nil:
		return fmt.Errorf("%s: no handler bound", o.Pattern())
	case o.Method == "" || len(o.Path) == 0 || o.Path[0] != '/':
		return fmt.Errorf("%q: want a method and a path starting with /", o.Pattern())
	case o.Role.rank() == 0:
		return fmt.Errorf("%s: role %q is not one of %v", o.Pattern(), o.Role, Roles())
	case o.paramsErr != nil:
		return fmt.Errorf("%s: %w", o.Pattern(), o.paramsErr)
	}
	for _, name := range pathNames(o.Path) {
		found := false
		for _, p := range o.params {
			found = found || (p.in == inPath && p.name == name)
		}
		if !found {
			return fmt.Errorf("%s: path parameter {%s} has no field tagged path:%q", o.Pattern(), name, name)
		}
	}
	return nil
}
