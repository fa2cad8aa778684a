package cli

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// modulePath is the import path prefix of tug's own packages.
const modulePath = "github.com/tugdev/tug/"

// architectureDoc holds the rooms' table the import checker reads.
var architectureDoc = filepath.Join("..", "..", "docs", "ARCHITECTURE.md")

// room is one row of the architecture's table: the package and the
// internal packages it imports.
type room struct {
	name    string
	imports []string
	line    int
}

var backticked = regexp.MustCompile("`([^`]*)`")

// readRoomsTable parses the table of rooms in the architecture document:
// the first Markdown table whose header starts with "package". The
// imports cell is "(nothing internal)" or backticked names separated by
// commas; anything else is an error, so the table stays readable by both
// people and this test.
func readRoomsTable(path string) ([]room, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rooms []room
	inTable := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !inTable && len(cells) == 3 && cells[0] == "package":
			inTable = true
			continue
		case !inTable:
			continue
		case strings.Trim(cells[0], "-: ") == "":
			continue // the header's rule
		case len(cells) != 3:
			return nil, fmt.Errorf("%s:%d: a row of the rooms' table has %d cells, want 3", path, n, len(cells))
		}
		name := backticked.FindStringSubmatch(cells[0])
		if name == nil || name[0] != cells[0] {
			return nil, fmt.Errorf("%s:%d: package cell %q: want a `name`", path, n, cells[0])
		}
		r := room{name: name[1], line: n}
		if cells[2] != "(nothing internal)" {
			for _, part := range strings.Split(cells[2], ",") {
				part = strings.TrimSpace(part)
				m := backticked.FindStringSubmatch(part)
				if m == nil || m[0] != part {
					return nil, fmt.Errorf("%s:%d: imports cell of %s: %q is not a `name` (the cell lists `names` separated by commas, or says (nothing internal))", path, n, r.name, part)
				}
				r.imports = append(r.imports, m[1])
			}
		}
		rooms = append(rooms, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rooms) == 0 {
		return nil, fmt.Errorf("%s: no table with a \"package\" column", path)
	}
	return rooms, nil
}

// TestImportDirection keeps the code and docs/ARCHITECTURE.md's table of
// rooms in step: every package under internal/ has a row; a room imports
// exactly the internal packages its row names, each a room above it;
// and only tests import testkit.
func TestImportDirection(t *testing.T) {
	t.Parallel()
	rooms, err := readRoomsTable(architectureDoc)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]room{}
	for i, r := range rooms {
		if _, dup := rows[r.name]; dup {
			t.Errorf("%s:%d: %s has two rows", architectureDoc, r.line, r.name)
		}
		rows[r.name] = r
		for _, imp := range r.imports {
			if !slices.ContainsFunc(rooms[:i], func(above room) bool { return above.name == imp }) {
				t.Errorf("%s:%d: %s imports %s, which is not a room above it", architectureDoc, r.line, r.name, imp)
			}
		}
	}

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
		r, known := rows[pkg]
		if !known {
			t.Errorf("internal/%s has no row in %s", pkg, architectureDoc)
		}
		delete(rows, pkg)
		files, err := filepath.Glob(filepath.Join(root, pkg, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		used := map[string]bool{}
		for _, f := range files {
			test := strings.HasSuffix(f, "_test.go")
			for _, imp := range internalImports(t, f) {
				switch {
				case imp == "testkit" && !test:
					t.Errorf("%s imports internal/testkit, which is for tests only", f)
				case test || imp == pkg:
				case known && !slices.Contains(r.imports, imp):
					t.Errorf("%s imports internal/%s; %s's row in %s allows only %v", f, imp, pkg, architectureDoc, r.imports)
				default:
					used[imp] = true
				}
			}
			checked++
		}
		for _, imp := range r.imports {
			if !used[imp] {
				t.Errorf("%s:%d: %s's row names %s, which its code does not import: take it out", architectureDoc, r.line, pkg, imp)
			}
		}
	}
	for name, r := range rows {
		t.Errorf("%s:%d: a row for %s, which is not a package under internal/", architectureDoc, r.line, name)
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
// importing the CLI from a lower room is seen, the document's table keeps
// store from importing cli, and a table the checker cannot read fails
// with its line.
func TestImportCheckerSeesViolations(t *testing.T) {
	t.Parallel()
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
	rooms, err := readRoomsTable(architectureDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if r.name == "store" && slices.Contains(r.imports, "cli") {
			t.Fatal("the table lets store import cli")
		}
	}

	doc := filepath.Join(dir, "ARCHITECTURE.md")
	table := "# Rooms\n\n| package | what | imports |\n|---|---|---|\n| `kit` | helpers | (nothing internal) |\n| `config` | tug.yaml | `kit`, `secret` |\n\nprose\n"
	if err := os.WriteFile(doc, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	rooms, err = readRoomsTable(doc)
	if err != nil || len(rooms) != 2 || !slices.Equal(rooms[1].imports, []string{"kit", "secret"}) || rooms[0].imports != nil {
		t.Fatalf("readRoomsTable = %+v, %v", rooms, err)
	}
	bad := strings.Replace(table, "`kit`, `secret`", "`kit` and everything above", 1)
	if err := os.WriteFile(doc, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readRoomsTable(doc); err == nil || !strings.Contains(err.Error(), "ARCHITECTURE.md:6:") {
		t.Fatalf("a loose imports cell: err = %v, want one naming line 6", err)
	}
}
