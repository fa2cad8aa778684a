package cli

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is the import path prefix of tug's own packages.
const modulePath = "github.com/tugdev/tug/"

// allowedImports is docs/ARCHITECTURE.md's table: which internal packages
// each room may import. A room missing here may import nothing internal
// until the table says otherwise.
var allowedImports = map[string][]string{
	"config":   nil,
	"secret":   nil,
	"report":   nil,
	"store":    nil,
	"registry": nil,
	"testkit":  nil,
	"pipeline": {"config", "secret", "report", "registry"},
	"cache":    {"config", "pipeline"},
	"runtime":  {"secret", "registry"},
	"proxy":    {"config"},
	"deploy":   {"config", "secret", "proxy", "runtime", "store"},
	"metrics":  {"config", "secret", "proxy", "runtime"},
	"alert":    {"config", "secret", "store"},
	"logs":     {"config", "secret", "runtime", "store"},
	"scan":     {"config"},
	"api":      {"config", "secret", "store", "proxy", "runtime", "deploy"},
	"server":   {"config", "secret", "store", "proxy", "runtime", "deploy", "metrics", "alert", "logs", "scan", "api"},
	"cli":      {"config", "secret", "report", "store", "pipeline", "cache", "runtime", "proxy", "deploy", "metrics", "alert", "logs", "scan", "api", "server"},
}

// TestImportDirection keeps imports pointing down the architecture's
// table, reading the import clauses of every non-test Go file under
// internal/.
func TestImportDirection(t *testing.T) {
	root := filepath.Join("..")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		pkg := e.Name()
		allowed, known := allowedImports[pkg]
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, imp := range internalImports(t, f) {
				if !known {
					t.Errorf("%s imports internal/%s, but internal/%s is not in docs/ARCHITECTURE.md's table", f, imp, pkg)
					continue
				}
				if imp != pkg && !slices.Contains(allowed, imp) {
					t.Errorf("%s imports internal/%s; internal/%s may import only %v", f, imp, pkg, allowed)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no Go files found under internal/")
	}
}

// internalImports lists the internal packages (first path element after
// internal/) that file imports.
func internalImports(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range f.Imports {
		p, err := strconv.Unquote(s.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(p, modulePath+"internal/")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		out = append(out, name)
	}
	return out
}

// TestImportCheckerSeesViolations guards the checker itself: a file
// importing the CLI from a lower room must be reported.
func TestImportCheckerSeesViolations(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.go")
	src := "package store\n\nimport _ \"" + modulePath + "internal/cli\"\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := internalImports(t, file)
	if !slices.Equal(got, []string{"cli"}) {
		t.Fatalf("internalImports = %v, want [cli]", got)
	}
	if slices.Contains(allowedImports["store"], "cli") {
		t.Fatal("table allows store to import cli")
	}
}
