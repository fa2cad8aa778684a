package config

import (
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// AsWritten is the config document in data as its author wrote it, for
// showing: ${VAR} references are not expanded and no defaults are filled
// in; merge keys and aliases are expanded, and top-level x- keys (which
// only hold anchors) are left out. The value of every
// secret-bearing key (a field tagged `secret:"true"`, such as a webhook
// URL) is replaced by mask. data should be a file Parse accepts; a file
// that does not parse gives its errors.
func AsWritten(data []byte, mask any) (any, error) {
	d := newDecoder("", func(string) (string, bool) { return "", false })
	root := d.parseYAML(data)
	if root == nil {
		return nil, d.result()
	}
	return d.written(root, reflect.TypeFor[Config](), "", mask), nil
}

// written converts n, read as a value of type t (nil: unknown), to plain
// maps, lists and scalars, masking secret-bearing fields.
func (d *decoder) written(n *yaml.Node, t reflect.Type, path string, mask any) any {
	n = resolve(n)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.MappingNode:
		out := map[string]any{}
		for _, p := range d.pairs(n, path) {
			if path == "" && strings.HasPrefix(p.name, extensionPrefix) {
				continue // anchors only: what they hold shows where it is merged
			}
			var ft reflect.Type
			switch {
			case t != nil && t.Kind() == reflect.Struct:
				sf, ok := fieldNamed(t, p.name)
				if ok && sf.Tag.Get("secret") == "true" {
					out[p.name] = mask
					continue
				}
				if ok {
					ft = sf.Type
				}
			case t != nil && t.Kind() == reflect.Map:
				ft = t.Elem()
			}
			out[p.name] = d.written(p.val, ft, joinKey(path, p.name), mask)
		}
		return out
	case yaml.SequenceNode:
		var et reflect.Type
		if t != nil && t.Kind() == reflect.Slice {
			et = t.Elem()
		}
		list := make([]any, len(n.Content))
		for i, c := range n.Content {
			list[i] = d.written(c, et, path+"["+strconv.Itoa(i)+"]", mask)
		}
		return list
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return n.Value
		}
		return v
	}
	return nil
}

// fieldNamed is t's field whose yaml key is name.
func fieldNamed(t reflect.Type, name string) (reflect.StructField, bool) {
	for _, f := range fieldsOf(t) {
		if f.name == name {
			return t.Field(f.index), true
		}
	}
	return reflect.StructField{}, false
}
