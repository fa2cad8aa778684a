package config

import "gopkg.in/yaml.v3"

// pair is one key of a mapping after merge keys are expanded.
type pair struct {
	key  *yaml.Node // where the key is written (in the anchor, for merged keys)
	val  *yaml.Node
	name string
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.ShortTag() == "!!merge" || k.Style == 0)
}

// pairs lists the keys of mapping n in declaration order with `<<` merge
// keys expanded in place: keys written in n win over merged ones wherever
// they stand, and among merged mappings the earlier one wins, as YAML's
// merge key type says. Duplicate keys and non-string keys are reported.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	type entry struct {
		merge *yaml.Node // value of a << key, or nil
		p     pair
	}
	var ents []entry
	seen := map[string]bool{}
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !d.spend(k, path) {
			return nil
		}
		if isMergeKey(k) {
			ents = append(ents, entry{merge: v})
			continue
		}
		kn := resolve(k)
		if kn.Kind != yaml.ScalarNode {
			d.errorf(k, path, "mapping keys must be strings, got %s", kindName(kn))
			continue
		}
		if f, dup := first[kn.Value]; dup {
			d.errorf(k, joinKey(path, kn.Value), "duplicate key %q (first written at line %d)", kn.Value, f.Line)
			continue
		}
		first[kn.Value] = k
		seen[kn.Value] = true
		ents = append(ents, entry{p: pair{key: k, val: v, name: kn.Value}})
	}
	out := make([]pair, 0, len(ents))
	for _, e := range ents {
		if e.merge == nil {
			out = append(out, e.p)
			continue
		}
		for _, src := range d.mergeSources(e.merge, path) {
			if d.active[src] {
				d.errorf(e.merge, path, "merge key << refers to the mapping it is in")
				continue
			}
			if !d.spend(src, path) {
				return out
			}
			d.active[src] = true
			sub := d.pairs(src, path)
			delete(d.active, src)
			for _, p := range sub {
				if seen[p.name] {
					continue
				}
				seen[p.name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// mergeSources returns the mappings a << key merges: one mapping (usually
// an alias) or a list of them.
func (d *decoder) mergeSources(v *yaml.Node, path string) []*yaml.Node {
	r := resolve(v)
	switch r.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{r}
	case yaml.SequenceNode:
		var srcs []*yaml.Node
		for _, item := range r.Content {
			m := resolve(item)
			if m.Kind != yaml.MappingNode {
				d.errorf(item, path, "merge key << needs a mapping or a list of mappings, got a list with %s", kindName(m))
				continue
			}
			srcs = append(srcs, m)
		}
		return srcs
	}
	d.errorf(v, path, "merge key << needs a mapping or a list of mappings, got %s", kindName(r))
	return nil
}
