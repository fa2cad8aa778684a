package config

import (
	"reflect"
	"slices"
)

// KeyPaths lists every key tug.yaml can hold, as dotted paths in the
// order the types declare them: a map's keys are "*" ("services.*.port"),
// a list's items "[]" ("alerts[].expr"), and a matrix's axes "*".
func KeyPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t {
		case matrixType:
			out = append(out, prefix+".include", prefix+".exclude", prefix+".*")
			return
		case triggersType:
			walk(triggerType, prefix+"[]")
			return
		case durationType, byteSizeType:
			return
		}
		switch t.Kind() {
		case reflect.Struct:
			for _, f := range fieldsOf(t) {
				p := joinKey(prefix, f.name)
				out = append(out, p)
				walk(t.Field(f.index).Type, p)
			}
		case reflect.Map:
			if t.Elem().Kind() != reflect.String {
				walk(t.Elem(), prefix+".*")
			}
		case reflect.Slice:
			if el := t.Elem(); el.Kind() != reflect.String && el.Kind() != reflect.Map {
				walk(el, prefix+"[]")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return slices.Compact(out)
}
