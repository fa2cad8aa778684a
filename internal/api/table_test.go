package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// outsideTheTable are the only places that may register HTTP handlers or
// serve HTTP other than through the route table, and why.
var outsideTheTable = map[string]string{
	"endpoint/router.go":  "the Router registers the route table's operations",
	"server/server.go":    "serves the api.Handler on the unix socket and the TCP listener",
	"server/incidents.go": "serves the public status page alone on a loopback listener the proxy routes to, never the API",
	"proxy/":              "the data plane: services' traffic and the proxy's own control socket, not the API",
	"web/":                "the dashboard's pages, served beside the API; it reads and acts only through the API's operations, in-process (InProcess)",
}

// TestHandlersOnlyThroughTheRouteTable reads every non-test Go file
// under internal/ and fails on an HTTP handler registered or served
// outside the route table: a ServeMux, Handle or HandleFunc with a
// pattern, an http.Server, http.ListenAndServe and the like.
func TestHandlersOnlyThroughTheRouteTable(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..")
	found := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for place := range outsideTheTable {
			if rel == place || (strings.HasSuffix(place, "/") && strings.HasPrefix(rel, place)) {
				return nil
			}
		}
		found++
		for _, v := range handlerRegistrations(t, path) {
			t.Errorf("%s: %s outside the route table: declare an endpoint.Op and list it in api's routeTable", rel, v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 50 {
		t.Fatalf("read only %d files", found)
	}
}

// TestTableCheckerSeesAMux guards the checker: a room registering its
// own handler must be reported.
func TestTableCheckerSeesAMux(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "http.go")
	src := `package alert

import "net/http"

func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/alerts", e.list)
	mux.Handle("/api/other/", e.other)
	for _, p := range []string{"/a", "/b"} {
		mux.HandleFunc(p, e.list)
	}
	go http.ListenAndServe(":0", mux)
	srv := &http.Server{Handler: mux}
	_ = srv
	return mux
}
`
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := handlerRegistrations(t, file)
	want := []string{"http.NewServeMux", "HandleFunc(\"GET /api/alerts\")", "Handle(\"/api/other/\")", "HandleFunc(a pattern)", "http.ListenAndServe", "http.Server"}
	if !slices.Equal(got, want) {
		t.Fatalf("found %q, want %q", got, want)
	}
}

// handlerRegistrations lists what file does to register or serve HTTP
// handlers.
func handlerRegistrations(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	httpName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "net/http" {
			httpName = "http"
			if imp.Name != nil {
				httpName = imp.Name.Name
			}
		}
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CompositeLit:
			if sel, ok := n.Type.(*ast.SelectorExpr); ok && isPkg(sel.X, httpName) && sel.Sel.Name == "Server" {
				out = append(out, "http.Server")
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			name := sel.Sel.Name
			if isPkg(sel.X, httpName) {
				switch name {
				case "NewServeMux", "Handle", "HandleFunc", "ListenAndServe", "ListenAndServeTLS", "Serve", "ServeTLS":
					out = append(out, "http."+name)
				}
				return true
			}
			if (name != "Handle" && name != "HandleFunc") || len(n.Args) != 2 {
				return true
			}
			switch a := n.Args[0].(type) {
			case *ast.BasicLit:
				if a.Kind == token.STRING {
					out = append(out, name+"("+a.Value+")")
				}
			case *ast.BinaryExpr:
				out = append(out, name+"(a pattern)")
			default:
				if name == "HandleFunc" { // Handle(ctx, record) is slog's
					out = append(out, name+"(a pattern)")
				}
			}
		}
		return true
	})
	return out
}

func isPkg(x ast.Expr, name string) bool {
	id, ok := x.(*ast.Ident)
	return ok && name != "" && id.Name == name
}
