package config

import (
	"encoding/json"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// decodeFlagValue reads a flag variant's value, any YAML value without
// aliases or non-string keys, into JSON.
func (d *decoder) decodeFlagValue(n *yaml.Node, path string, v reflect.Value) {
	val, err := yamlToJSONValue(resolve(n))
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	b, err := json.Marshal(val)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	v.Set(reflect.ValueOf(FlagValue{JSON: b}))
}

func yamlToJSONValue(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		var out any
		if err := n.Decode(&out); err != nil {
			return nil, err
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := yamlToJSONValue(resolve(c))
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolve(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("a mapping key must be a string, got %s", kindName(k))
			}
			x, err := yamlToJSONValue(resolve(n.Content[i+1]))
			if err != nil {
				return nil, err
			}
			out[k.Value] = x
		}
		return out, nil
	}
	return nil, fmt.Errorf("expected a value, got %s", kindName(n))
}
