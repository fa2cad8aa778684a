package cache

import (
	"maps"
	"slices"
)

// diffManifests lists what differs between the last saved manifest of a
// job and the current one, in a stable order: script, image, declared
// patterns, matrix, env, secrets, inputs, upstream.
func diffManifests(old, cur *KeyManifest) []string {
	var out []string
	if old.Version != cur.Version {
		out = append(out, "cache format changed")
	}
	if old.Script != cur.Script {
		out = append(out, "script changed")
	}
	if old.Image != cur.Image || old.ImageID != cur.ImageID {
		out = append(out, "image changed")
	}
	if old.Declared != cur.Declared {
		out = append(out, "declared inputs or artifacts changed")
	}
	out = diffMap(out, "matrix", old.Matrix, cur.Matrix)
	out = diffMap(out, "env", old.Env, cur.Env)
	out = diffMap(out, "secret", old.Secrets, cur.Secrets)
	out = diffMap(out, "input", old.Files, cur.Files)
	out = diffMap(out, "upstream", old.Upstream, cur.Upstream)
	return out
}

// diffMap appends "<what> <name> changed|added|removed" for each name, in
// name order.
func diffMap(out []string, what string, old, cur map[string]string) []string {
	names := slices.Sorted(maps.Keys(old))
	for n := range cur {
		if _, ok := old[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		o, inOld := old[n]
		c, inCur := cur[n]
		switch {
		case inOld && !inCur:
			out = append(out, what+" "+n+" removed")
		case !inOld && inCur:
			out = append(out, what+" "+n+" added")
		case o != c:
			out = append(out, what+" "+n+" changed")
		}
	}
	return out
}
