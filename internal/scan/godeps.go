package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	vulnscan "golang.org/x/vuln/scan"
)

// govulncheck's JSON stream, as much as tug reads.
type gvMessage struct {
	OSV     *OSV       `json:"osv"`
	Finding *gvFinding `json:"finding"`
}

type gvFinding struct {
	OSV          string    `json:"osv"`
	FixedVersion string    `json:"fixed_version"`
	Trace        []gvFrame `json:"trace"`
}

type gvFrame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
	} `json:"position"`
}

// goModule is one go.mod under the scanned tree.
type goModule struct {
	Dir  string // absolute
	Rel  string // go.mod's path relative to the root
	File *modfile.File
}

// govulncheck runs golang.org/x/vuln's scanner in-process over one module
// (mode "source", args "./...") or one binary (mode "binary"), against
// the offline database, and turns its findings into tug's: a
// vulnerability whose vulnerable symbols the code calls is reported with
// the advisory's severity (high when it has none) at the call site; one
// only imported or required is informational, as govulncheck says.
func govulncheck(ctx context.Context, db *DB, env []string, mode, target, relPath string, mod *modfile.File) ([]Finding, error) {
	args := []string{"-db", "file://" + db.GoDir(), "-format", "json", "-scan", "symbol"}
	switch mode {
	case "binary":
		args = append(args, "-mode", "binary", target)
	default:
		args = append(args, "-C", target, "./...")
	}
	cmd := vulnscan.Command(ctx, args...)
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = pw, &stderr, strings.NewReader("")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { pw.CloseWithError(cmd.Wait()) }()

	osvs := map[string]*OSV{}
	type agg struct {
		f         *gvFinding
		reachable bool
		call      *gvFrame
	}
	byID := map[string]*agg{}
	var order []string
	dec := json.NewDecoder(pr)
	var runErr error
	for {
		var m gvMessage
		if err := dec.Decode(&m); err != nil {
			if !errors.Is(err, io.EOF) {
				runErr = err
			}
			break
		}
		if m.OSV != nil {
			osvs[m.OSV.ID] = m.OSV
		}
		if f := m.Finding; f != nil && len(f.Trace) > 0 {
			key := f.OSV + "\x00" + f.Trace[0].Module
			a := byID[key]
			if a == nil {
				a = &agg{f: f}
				byID[key] = a
				order = append(order, key)
			}
			if f.Trace[0].Function != "" && !a.reachable {
				a.reachable = true
				a.f = f
				for i := len(f.Trace) - 1; i >= 0; i-- {
					if f.Trace[i].Position != nil && f.Trace[i].Position.Line > 0 {
						a.call = &f.Trace[i]
						break
					}
				}
			}
		}
	}
	io.Copy(io.Discard, pr)
	if runErr != nil {
		// Exit code 3 only says "vulnerabilities found"; anything else is
		// a failure to scan.
		var ec interface{ ExitCode() int }
		if !errors.As(runErr, &ec) || ec.ExitCode() != 3 {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = runErr.Error()
			}
			return nil, fmt.Errorf("govulncheck: %s", msg)
		}
	}

	var out []Finding
	for _, key := range order {
		a := byID[key]
		top := a.f.Trace[0]
		o := osvs[a.f.OSV]
		if o == nil {
			o = &OSV{ID: a.f.OSV}
		}
		name := top.Module
		m := match{osv: o, fixed: strings.TrimPrefix(a.f.FixedVersion, "v")}
		f := vulnFinding(m, "Go", name, strings.TrimPrefix(top.Version, "v"), relPath, High)
		f.Version = top.Version
		if m.fixed != "" {
			f.FixedVersion = "v" + m.fixed
			f.Fix = fmt.Sprintf("upgrade %s to v%s", name, m.fixed)
		}
		if name == "stdlib" {
			f.Version = top.Version
			f.FixedVersion = a.f.FixedVersion
			f.Fix = "build with Go " + a.f.FixedVersion + " or later"
		}
		f.Message = fmt.Sprintf("%s@%s: %s", name, f.Version, title(o))
		reach := a.reachable
		f.Reachable = &reach
		if reach {
			sym := top.Function
			if top.Receiver != "" {
				sym = top.Receiver + "." + sym
			}
			f.Message += fmt.Sprintf(" (your code calls %s.%s)", top.Package, sym)
			if a.call != nil && mode != "binary" {
				f.Path = relTo(relPath, a.call.Position.Filename, target)
				f.Line = a.call.Position.Line
				f.Column = a.call.Position.Column
			}
		} else {
			f.Severity = Info
			f.Message += " (vulnerable symbols are not called)"
			if mod != nil && mode != "binary" {
				f.Line = requireLine(mod, name)
			}
		}
		f.key = "go"
		out = append(out, f)
	}
	return out, nil
}

// relTo makes a position's file name relative to the scan root: govulncheck
// prints names relative to the module directory (or absolute).
func relTo(goModRel, filename, moduleDir string) string {
	if filepath.IsAbs(filename) {
		if r, err := filepath.Rel(moduleDir, filename); err == nil {
			filename = r
		}
	}
	return filepath.ToSlash(filepath.Join(filepath.Dir(goModRel), filename))
}

func requireLine(mod *modfile.File, path string) int {
	for _, r := range mod.Require {
		if r.Mod.Path == path && r.Syntax != nil {
			return r.Syntax.Start.Line
		}
	}
	if path == "stdlib" && mod.Go != nil && mod.Go.Syntax != nil {
		return mod.Go.Syntax.Start.Line
	}
	return 0
}

// readGoMod parses a go.mod; a syntax error is returned positioned.
func readGoMod(path string) (*modfile.File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse(path, b, nil)
	if err != nil {
		var el modfile.ErrorList
		if errors.As(err, &el) && len(el) > 0 {
			return nil, &parseError{Line: el[0].Pos.Line, Col: el[0].Pos.LineRune, Msg: el[0].Err.Error()}
		}
		return nil, &parseError{Line: 1, Col: 1, Msg: err.Error()}
	}
	return f, nil
}
