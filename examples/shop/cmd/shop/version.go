package main

import "runtime/debug"

// versionInfo is what /version and shop_build_info report.
type versionInfo struct {
	Version  string
	Revision string
}

// buildRevision is the git commit the Go toolchain stamped into the
// binary (go build inside a git work tree), with "+dirty" for a modified
// tree; "" when the build had no VCS information.
func buildRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "+dirty"
	}
	return rev
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
