package config

import (
	"reflect"

	"gopkg.in/yaml.v3"
)

// decodeTrigger reads `push` or {schedule|tag|branch|event: ...}.
func (d *decoder) decodeTrigger(n *yaml.Node, path string, v reflect.Value) {
	r := resolve(n)
	switch r.Kind {
	case yaml.ScalarNode:
		if isNull(r) {
			d.fail(n, path, "expected an event name or a mapping, got null")
			return
		}
		if s, ok := d.interp(r, path); ok {
			v.Set(reflect.ValueOf(Trigger{Event: s}))
		}
	case yaml.MappingNode:
		d.decodeStruct(r, path, v)
		if len(r.Content) == 0 {
			d.fail(n, path, "empty trigger: set one of event, schedule, tag or branch")
		}
	default:
		d.fail(n, path, "expected an event name or a mapping, got %s", kindName(r))
	}
}

// decodeMatrix reads a matrix: include and exclude are lists of mappings,
// every other key is an axis whose value is one scalar or a list of them.
func (d *decoder) decodeMatrix(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	m := Matrix{Axes: map[string][]string{}}
	for _, p := range d.pairs(n, path) {
		cp := joinKey(path, p.name)
		d.keyPos[cp] = posOf(p.key)
		d.valPos[cp] = posOf(p.val)
		switch p.name {
		case "include":
			d.decode(p.val, cp, reflect.ValueOf(&m.Include).Elem(), false)
			continue
		case "exclude":
			d.decode(p.val, cp, reflect.ValueOf(&m.Exclude).Elem(), false)
			continue
		}
		vals, ok := d.axisValues(p.val, cp)
		if !ok {
			continue
		}
		m.Axes[p.name] = vals
		m.AxisOrder = append(m.AxisOrder, p.name)
	}
	v.Set(reflect.ValueOf(m))
}

func (d *decoder) axisValues(n *yaml.Node, path string) ([]string, bool) {
	r := resolve(n)
	var items []*yaml.Node
	switch r.Kind {
	case yaml.ScalarNode:
		if isNull(r) {
			return []string{}, true // reported as an axis with no values
		}
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = r.Content
	default:
		d.fail(n, path, "expected a value or a list of values, got %s", kindName(r))
		return nil, false
	}
	vals := make([]string, 0, len(items))
	ok := true
	for i, item := range items {
		ip := path
		if r.Kind == yaml.SequenceNode {
			ip = joinIndex(path, i)
			d.keyPos[ip] = posOf(item)
			d.valPos[ip] = posOf(item)
		}
		it := resolve(item)
		if it.Kind != yaml.ScalarNode || isNull(it) {
			d.fail(item, ip, "expected a value, got %s", kindName(it))
			ok = false
			continue
		}
		s, good := d.interp(it, ip)
		if !good {
			ok = false
			continue
		}
		vals = append(vals, s)
	}
	return vals, ok
}

// decodeApproval reads `required` or {required: true, not_by: deployer}.
func (d *decoder) decodeApproval(n *yaml.Node, path string, v reflect.Value) {
	if r := resolve(n); r.Kind == yaml.ScalarNode {
		if s, ok := d.interp(r, path); ok {
			v.Set(reflect.ValueOf(Approval{Short: s, Required: s == "required"}))
		}
		return
	}
	d.decodeStruct(n, path, v)
}
