package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// KindOutdated is a direct dependency with a newer version (--outdated).
const KindOutdated Kind = "outdated"

// outdated asks the module proxy (through `go list -m -u`) for newer
// versions of each module's direct requirements.
func outdated(ctx context.Context, env []string, mods []goModule) ([]Finding, []string) {
	var out []Finding
	var warns []string
	for _, m := range mods {
		var direct []string
		for _, r := range m.File.Require {
			if !r.Indirect {
				direct = append(direct, r.Mod.Path)
			}
		}
		if len(direct) == 0 {
			continue
		}
		cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-mod=mod", "-m", "-u", "-json"}, direct...)...)
		cmd.Dir, cmd.Env = m.Dir, env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			warns = append(warns, fmt.Sprintf("%s: outdated dependencies not checked: %s", m.Rel, strings.TrimSpace(stderr.String())))
			continue
		}
		dec := json.NewDecoder(&stdout)
		for {
			var mod struct {
				Path, Version string
				Update        *struct{ Version string }
			}
			if err := dec.Decode(&mod); err != nil {
				if !errors.Is(err, io.EOF) {
					warns = append(warns, fmt.Sprintf("%s: go list: %v", m.Rel, err))
				}
				break
			}
			if mod.Update == nil {
				continue
			}
			out = append(out, Finding{
				Kind: KindOutdated, Rule: "outdated-dependency", Severity: Info,
				Path: m.Rel, Line: requireLine(m.File, mod.Path), Package: mod.Path, Version: mod.Version,
				FixedVersion: mod.Update.Version, Ecosystem: "Go",
				Message: fmt.Sprintf("%s %s has a newer version, %s", mod.Path, mod.Version, mod.Update.Version),
				Fix:     fmt.Sprintf("go get %s@%s", mod.Path, mod.Update.Version),
			})
		}
	}
	return out, warns
}
