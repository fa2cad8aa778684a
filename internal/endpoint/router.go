package endpoint

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Options configure a Router; the zero value works.
type Options struct {
	// Codes map errors to codes (see Describe); errors given a code by
	// Fail need no row.
	Codes []ErrorCode
	// Details positions the problems of an error answer (config errors).
	Details func(error) []Detail
	// Check runs after routing, before the operation's handler; an error
	// refuses the request. It is where roles and request shapes are
	// enforced. Called concurrently.
	Check func(r *http.Request, op *Op) error
	// Logger records errors of status 500 and above.
	Logger *slog.Logger
}

// Router serves a table of operations on one http.ServeMux: the one place
// where tug's API handlers are registered. Safe for concurrent use.
type Router struct {
	mux *http.ServeMux
	ops []Op
	o   Options
	log *slog.Logger
}

var _ http.Handler = (*Router)(nil)

// NewRouter checks ops (a bound handler, a role, parameters that match
// the path, no pattern twice) and registers them.
func NewRouter(ops []Op, o Options) (*Router, error) {
	rt := &Router{mux: http.NewServeMux(), ops: make([]Op, len(ops)), o: o, log: o.Logger}
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	copy(rt.ops, ops)
	seen := map[string]bool{}
	for i := range rt.ops {
		op := &rt.ops[i]
		if err := op.validate(); err != nil {
			return nil, fmt.Errorf("route table: %w", err)
		}
		if seen[op.Pattern()] {
			return nil, fmt.Errorf("route table: %s is declared twice", op.Pattern())
		}
		seen[op.Pattern()] = true
		rt.mux.Handle(op.Pattern(), rt.handler(op))
	}
	rt.mux.Handle("/", http.HandlerFunc(rt.noRoute))
	return rt, nil
}

// Ops is the route table, in the order given.
func (rt *Router) Ops() []Op { return rt.ops }

// Match is the operation that serves r, or nil.
func (rt *Router) Match(r *http.Request) *Op {
	_, pattern := rt.mux.Handler(r)
	for i := range rt.ops {
		if rt.ops[i].Pattern() == pattern {
			return &rt.ops[i]
		}
	}
	return nil
}

// ServeHTTP dispatches to the operation.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

func (rt *Router) handler(op *Op) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		var err error
		if rt.o.Check != nil {
			err = rt.o.Check(r, op)
		}
		if err == nil {
			err = op.serve(tw, r, op)
		}
		if err == nil {
			return
		}
		if tw.wrote {
			rt.log.Warn("api: error after the answer started", "method", r.Method, "path", r.URL.Path, "err", err)
			return
		}
		rt.writeError(tw, r, op.writeErr, err)
	})
}

// WriteError answers err with tug's error envelope, as the Router does.
func (rt *Router) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	rt.writeError(w, r, nil, err)
}

func (rt *Router) writeError(w http.ResponseWriter, r *http.Request, own func(http.ResponseWriter, error), err error) {
	if own != nil {
		own(w, err)
		return
	}
	e := Describe(err, rt.o.Codes, rt.o.Details)
	if e.Status >= 500 {
		rt.log.Error("api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, e.Status, ErrorResponse{Error: *e})
}

// noRoute answers what no operation matched: 405 with Allow when the
// path exists for other methods, else 404; in the error style of the
// operations whose scope holds the path.
func (rt *Router) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	var err error
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		err = Failf(CodeMethodNotAllowed, "%s %s: method not allowed; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))
	} else {
		err = Failf(CodeNoRoute, "no route %s %s (see GET /api/openapi.json)", r.Method, r.URL.Path)
	}
	var own func(http.ResponseWriter, error)
	scope := ""
	for i := range rt.ops {
		op := &rt.ops[i]
		if op.writeErr != nil && len(op.scope) > len(scope) && strings.HasPrefix(r.URL.Path, op.scope) {
			own, scope = op.writeErr, op.scope
		}
	}
	rt.writeError(w, r, own, err)
}

// trackingWriter remembers whether the answer has started.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
