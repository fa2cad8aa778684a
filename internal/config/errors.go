package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// ErrInvalid is what every configuration error matches with errors.Is, so
// callers can tell bad input (exit code 2) from other failures.
var ErrInvalid = errors.New("invalid configuration")

// Error is one problem in a config file, positioned so editors and humans
// can jump to it.
type Error struct {
	File string
	Pos  Pos
	Path string // dotted key path, list indexes as [i]; may be empty
	Msg  string
}

// Error formats as "file:line:col: path: msg". A zero column or line is
// left out rather than invented.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Pos.Line)
		if e.Pos.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Pos.Col)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes every config error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in one file, reported at once so a user
// fixes them in one round.
type Errors []*Error

// Error joins the errors, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes the list match ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// sortErrors orders errors by position, keeping discovery order for ties.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// PosOf gives where path stands in the file. A path that was never written
// (a missing key) falls back to its nearest written parent, and finally to
// the start of the file.
func (c *Config) PosOf(path string) Pos {
	return lookupPos(c.Positions, path)
}

func lookupPos(m map[string]Pos, path string) Pos {
	for {
		if p, ok := m[path]; ok {
			return p
		}
		if path == "" {
			return Pos{Line: 1, Col: 1}
		}
		path = parentPath(path)
	}
}

// parentPath strips the last segment: "a.b[2]" -> "a.b", "a.b" -> "a".
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// Errorf builds an error positioned at path, for checks done outside this
// package that still want to point into tug.yaml.
func (c *Config) Errorf(path, format string, args ...any) *Error {
	return &Error{File: c.File, Pos: c.PosOf(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// DefaultEnvironment is where deploy commands go when no --env is given:
// the first declared environment, or "default" when none are declared.
func (c *Config) DefaultEnvironment() string {
	if len(c.EnvironmentOrder) > 0 {
		return c.EnvironmentOrder[0]
	}
	return "default"
}

// Positioned turns err, as a room that checked c returns it, into
// positioned Errors: every *Error found in its tree is kept (one naming a
// Path but no File is placed in c's file by that path), and any other
// problem becomes an Error of c's file carrying its message. It returns
// nil for a nil err.
func (c *Config) Positioned(err error) Errors {
	if err == nil {
		return nil
	}
	var out Errors
	list, _ := collect(err)
	for _, e := range list {
		if e.File == "" {
			cp := *e
			cp.File = c.File
			if cp.Path != "" && cp.Pos == (Pos{}) {
				cp.Pos = c.PosOf(cp.Path)
			}
			e = &cp
		}
		out = append(out, e)
	}
	return out
}

// collect finds the *Error values in err's tree (typed is true when it
// found any). A wrapper holding none gives one Error with its whole
// message, so no context is lost; a wrapper tagging one with a sentinel
// ("%w: %w") gives just the Errors; errors.Join keeps every member.
func collect(err error) (out Errors, typed bool) {
	switch e := err.(type) {
	case *Error:
		return Errors{e}, true
	case Errors:
		return e, true
	case interface{ Unwrap() []error }:
		var plain []error
		for _, c := range e.Unwrap() {
			if sub, ok := collect(c); ok {
				out = append(out, sub...)
			} else {
				plain = append(plain, c)
			}
		}
		if len(out) > 0 {
			if isJoin(err) {
				for _, p := range plain {
					out = append(out, &Error{Msg: p.Error()})
				}
			}
			return out, true
		}
	case interface{ Unwrap() error }:
		if sub, ok := collect(e.Unwrap()); ok {
			return sub, true
		}
	}
	return Errors{{Msg: err.Error()}}, false
}

// isJoin says whether err was made by errors.Join, whose members are
// separate problems (not a sentinel tagging one).
func isJoin(err error) bool {
	return reflect.TypeOf(err) == reflect.TypeOf(errors.Join(ErrInvalid))
}
