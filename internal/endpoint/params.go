package endpoint

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

const (
	inPath  = "path"
	inQuery = "query"
)

// param is one field of a parameter struct.
type param struct {
	name, in, doc string
	required      bool
	index         int
	typ           reflect.Type
}

var (
	stringType  = reflect.TypeFor[string]()
	stringsType = reflect.TypeFor[[]string]()
	intType     = reflect.TypeFor[int]()
	boolType    = reflect.TypeFor[bool]()
)

// paramsOf reads the tagged fields of a parameter struct.
func paramsOf(t reflect.Type) ([]param, error) {
	if t == noneType {
		return nil, nil
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("parameters: want a struct, got %s", t)
	}
	var out []param
	for i := range t.NumField() {
		f := t.Field(i)
		p := param{index: i, typ: f.Type, doc: f.Tag.Get("doc")}
		var tag string
		if v, ok := f.Tag.Lookup(inPath); ok {
			p.in, tag = inPath, v
		} else if v, ok := f.Tag.Lookup(inQuery); ok {
			p.in, tag = inQuery, v
		} else {
			return nil, fmt.Errorf("parameters: %s.%s has neither a path nor a query tag", t.Name(), f.Name)
		}
		name, opt, _ := strings.Cut(tag, ",")
		p.name, p.required = name, opt == "required"
		switch {
		case name == "" || !f.IsExported():
			return nil, fmt.Errorf("parameters: %s.%s: want an exported field with a name in its tag", t.Name(), f.Name)
		case f.Type != stringType && f.Type != stringsType && f.Type != intType && f.Type != boolType:
			return nil, fmt.Errorf("parameters: %s.%s: %s is not supported (string, []string, int, bool)", t.Name(), f.Name, f.Type)
		case p.in == inPath && f.Type != stringType:
			return nil, fmt.Errorf("parameters: %s.%s: a path parameter is a string", t.Name(), f.Name)
		}
		out = append(out, p)
	}
	return out, nil
}

// pathNames lists the {name} and {name...} wildcards of a pattern path.
func pathNames(path string) []string {
	var out []string
	for rest := path; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return out
		}
		out = append(out, strings.TrimSuffix(rest[i+1:i+j], "..."))
		rest = rest[i+j+1:]
	}
}

// decodeParams fills dst from r's path values and query (or form, for
// Safe operations, which may take their parameters as a form body).
func decodeParams(r *http.Request, o *Op, dst reflect.Value) error {
	if len(o.params) == 0 {
		return nil
	}
	values := r.URL.Query()
	if o.Safe {
		if err := r.ParseForm(); err != nil {
			return Fail(CodeBadRequest, fmt.Errorf("form: %w", err))
		}
		values = r.Form
	}
	for _, p := range o.params {
		f := dst.Field(p.index)
		if p.in == inPath {
			f.SetString(r.PathValue(p.name))
			continue
		}
		vs := values[p.name]
		if len(vs) == 0 || (len(vs) == 1 && vs[0] == "" && p.typ != stringsType) {
			if p.required {
				return Failf(CodeBadRequest, "query: %q is required", p.name)
			}
			continue
		}
		switch p.typ {
		case stringType:
			f.SetString(vs[0])
		case stringsType:
			f.Set(reflect.ValueOf(append([]string(nil), vs...)))
		case intType:
			n, err := strconv.Atoi(strings.TrimSpace(vs[0]))
			if err != nil {
				return Failf(CodeBadRequest, "query: %s: want a whole number, got %q", p.name, vs[0])
			}
			f.SetInt(int64(n))
		case boolType:
			switch strings.ToLower(vs[0]) {
			case "1", "true":
				f.SetBool(true)
			case "0", "false":
			default:
				return Failf(CodeBadRequest, "query: %s: want true or false (1 or 0), got %q", p.name, vs[0])
			}
		}
	}
	return nil
}

// encodeParams is the request target for src: path with its wildcards
// filled (escaped), then the non-zero query parameters.
func encodeParams(path string, params []param, src reflect.Value) (string, error) {
	q := url.Values{}
	for _, p := range params {
		f := src.Field(p.index)
		if p.in == inPath {
			v := f.String()
			if v == "" {
				return "", fmt.Errorf("%s: path parameter %s is empty", path, p.name)
			}
			path = strings.Replace(path, "{"+p.name+"}", url.PathEscape(v), 1)
			continue
		}
		switch p.typ {
		case stringType:
			if v := f.String(); v != "" {
				q.Set(p.name, v)
			}
		case stringsType:
			for _, v := range f.Interface().([]string) {
				q.Add(p.name, v)
			}
		case intType:
			if n := f.Int(); n != 0 {
				q.Set(p.name, strconv.FormatInt(n, 10))
			}
		case boolType:
			if f.Bool() {
				q.Set(p.name, "true")
			}
		}
	}
	if strings.Contains(path, "{") {
		return "", errors.New(path + ": a path parameter has no value")
	}
	if len(q) == 0 {
		return path, nil
	}
	return path + "?" + q.Encode(), nil
}
