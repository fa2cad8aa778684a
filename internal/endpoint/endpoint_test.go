package endpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type itemParams struct {
	ID    string   `path:"id"`
	Limit int      `query:"limit" doc:"at most this many"`
	Tags  []string `query:"tag"`
	Deep  bool     `query:"deep"`
	Who   string   `query:"who,required"`
}

type itemBody struct {
	Note string `json:"note"`
}

type itemAnswer struct {
	ID    string   `json:"id"`
	Limit int      `json:"limit"`
	Tags  []string `json:"tags"`
	Deep  bool     `json:"deep"`
	Who   string   `json:"who"`
	Note  string   `json:"note"`
}

var errGone = errors.New("gone")

var (
	opItem  = Declare[itemParams, itemBody, itemAnswer](http.MethodPost, "/api/items/{id}", Deployer, "change an item").OptionalBody()
	opLines = Declare[None, None, int](http.MethodGet, "/api/lines", Viewer, "count to three")
)

func testRouter(t *testing.T, check func(*http.Request, *Op) error, extra ...Op) *Router {
	t.Helper()
	ops := append([]Op{
		opItem.JSON(func(_ context.Context, p itemParams, b itemBody) (itemAnswer, error) {
			if p.ID == "gone" {
				return itemAnswer{}, errGone
			}
			return itemAnswer{p.ID, p.Limit, p.Tags, p.Deep, p.Who, b.Note}, nil
		}),
		opLines.Stream(func(ctx context.Context, _ None, _ None, send func(int) error) error {
			for i := 1; i <= 3; i++ {
				if err := send(i); err != nil {
					return err
				}
			}
			return nil
		}),
	}, extra...)
	rt, err := NewRouter(ops, Options{Codes: []ErrorCode{{errGone, CodeNotFound}}, Check: check})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func serve(h http.Handler, method, target, body string) (*httptest.ResponseRecorder, ErrorResponse) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
	var e ErrorResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &e)
	e.Error.Status = rec.Code
	return rec, e
}

// A client request built from the declaration decodes on the server to
// the same values: the two sides share one description.
func TestRequestRoundTrip(t *testing.T) {
	t.Parallel()
	rt := testRouter(t, nil)
	p := itemParams{ID: "a b/c", Limit: 7, Tags: []string{"x", "y"}, Deep: true, Who: "ann"}
	method, target, body, err := opItem.Request(p, itemBody{Note: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(target, "/api/items/a%20b%2Fc?") {
		t.Fatalf("target = %s", target)
	}
	rec, _ := serve(rt, method, target, string(body))
	var got itemAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := itemAnswer{"a b/c", 7, []string{"x", "y"}, true, "ann", "hi"}
	if got.ID != want.ID || got.Limit != 7 || strings.Join(got.Tags, ",") != "x,y" || !got.Deep || got.Who != "ann" || got.Note != "hi" {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if _, _, _, err := opItem.Request(itemParams{}, itemBody{}); err == nil {
		t.Fatal("an empty path parameter built a request")
	}
}

func TestBadInputNamesThePlace(t *testing.T) {
	t.Parallel()
	rt := testRouter(t, nil)
	for _, tc := range []struct{ target, body, want string }{
		{"/api/items/a", "", `query: "who" is required`},
		{"/api/items/a?who=x&limit=ten", "", `query: limit: want a whole number, got "ten"`},
		{"/api/items/a?who=x&deep=maybe", "", `query: deep: want true or false`},
		{"/api/items/a?who=x", `{"note": 5}`, `body: field "note": want string, got number`},
		{"/api/items/a?who=x", `{"noet": "x"}`, `body: unknown field "noet"`},
		{"/api/items/a?who=x", `{"note": "x"} {}`, `body: unexpected data after the JSON object`},
	} {
		_, e := serve(rt, http.MethodPost, tc.target, tc.body)
		if e.Error.Status != 400 || e.Error.Code != CodeBadRequest || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%s %s: got %+v, want 400 %q", tc.target, tc.body, e.Error, tc.want)
		}
	}
}

func TestErrorsAndUnmatchedRequests(t *testing.T) {
	t.Parallel()
	rt := testRouter(t, nil)
	if _, e := serve(rt, http.MethodPost, "/api/items/gone?who=x", ""); e.Error.Status != 404 || e.Error.Code != CodeNotFound {
		t.Errorf("mapped error: %+v", e.Error)
	}
	rec, e := serve(rt, http.MethodGet, "/api/items/a", "")
	if e.Error.Status != 405 || e.Error.Code != CodeMethodNotAllowed || rec.Header().Get("Allow") != "POST" {
		t.Errorf("wrong method: %+v allow=%q", e.Error, rec.Header().Get("Allow"))
	}
	if _, e := serve(rt, http.MethodGet, "/api/nope", ""); e.Error.Status != 404 || e.Error.Code != CodeNoRoute {
		t.Errorf("no route: %+v", e.Error)
	}
}

// An operation with its own error style answers its errors, and the
// unmatched requests under its scope, in that style.
func TestOwnErrorStyleCoversItsScope(t *testing.T) {
	t.Parallel()
	own := func(w http.ResponseWriter, err error) {
		code, _ := CodeOf(err)
		w.WriteHeader(code.Status())
		io.WriteString(w, "own:"+string(code))
	}
	opV1 := Declare[None, None, string](http.MethodGet, "/v1/x", Viewer, "x").
		Write("text/plain", func(http.ResponseWriter, *http.Request, None) error { return Failf(CodeBadRequest, "no") }).
		WithErrors("", "/v1/", own)
	rt := testRouter(t, nil, opV1)
	for target, want := range map[string]string{"/v1/x": "own:bad_request", "/v1/nope": "own:no_route"} {
		if rec, _ := serve(rt, http.MethodGet, target, ""); rec.Body.String() != want {
			t.Errorf("%s: %q, want %q", target, rec.Body, want)
		}
	}
	if rec, _ := serve(rt, http.MethodGet, "/v2/nope", ""); !strings.Contains(rec.Body.String(), `"no_route"`) {
		t.Errorf("outside the scope: %s", rec.Body)
	}
}

func TestStreamStartsAtTheFirstLine(t *testing.T) {
	t.Parallel()
	early := Declare[None, None, int](http.MethodGet, "/api/early", Viewer, "fails first").
		Stream(func(context.Context, None, None, func(int) error) error { return Failf(CodeBusy, "busy") })
	rt := testRouter(t, nil, early)
	rec, _ := serve(rt, http.MethodGet, "/api/lines", "")
	if rec.Code != 200 || rec.Body.String() != "1\n2\n3\n" || rec.Header().Get("Content-Type") != MediaNDJSON {
		t.Fatalf("stream: %d %q %q", rec.Code, rec.Body, rec.Header())
	}
	if _, e := serve(rt, http.MethodGet, "/api/early", ""); e.Error.Status != 409 || e.Error.Code != CodeBusy {
		t.Fatalf("error before the first line: %+v", e.Error)
	}
}

func TestCheckRunsBeforeTheHandler(t *testing.T) {
	t.Parallel()
	var seen []Role
	rt := testRouter(t, func(r *http.Request, op *Op) error {
		seen = append(seen, op.Role)
		if op.Mutates() {
			return Failf(CodeForbidden, "no changes")
		}
		return nil
	})
	if _, e := serve(rt, http.MethodPost, "/api/items/a?who=x", ""); e.Error.Status != 403 {
		t.Fatalf("check: %+v", e.Error)
	}
	if rec, _ := serve(rt, http.MethodGet, "/api/lines", ""); rec.Code != 200 {
		t.Fatalf("read: %d", rec.Code)
	}
	if len(seen) != 2 || seen[0] != Deployer || seen[1] != Viewer {
		t.Fatalf("check saw %v", seen)
	}
}

func TestRouterRefusesABadTable(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, None, None) (int, error) { return 0, nil }
	type noTag struct{ X string }
	for name, ops := range map[string][]Op{
		"no role":        {Declare[None, None, int](http.MethodGet, "/a", "", "a").JSON(ok)},
		"unknown role":   {Declare[None, None, int](http.MethodGet, "/a", "root", "a").JSON(ok)},
		"twice":          {Declare[None, None, int](http.MethodGet, "/a", Viewer, "a").JSON(ok), Declare[None, None, int](http.MethodGet, "/a", Viewer, "a").JSON(ok)},
		"unbound":        {{Method: http.MethodGet, Path: "/a", Role: Viewer}},
		"path param":     {Declare[None, None, int](http.MethodGet, "/a/{id}", Viewer, "a").JSON(ok)},
		"untagged field": {Declare[noTag, None, int](http.MethodGet, "/a", Viewer, "a").JSON(func(context.Context, noTag, None) (int, error) { return 0, nil })},
	} {
		if _, err := NewRouter(ops, Options{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		have, need Role
		ok         bool
	}{
		{Admin, Deployer, true}, {Deployer, Deployer, true}, {Viewer, Deployer, false},
		{Viewer, Viewer, true}, {"", Viewer, false}, {Admin, "", false},
	} {
		if got := tc.have.Allows(tc.need); got != tc.ok {
			t.Errorf("%q allows %q = %v", tc.have, tc.need, got)
		}
	}
	var b bytes.Buffer
	for _, r := range Roles() {
		b.WriteString(string(r) + " ")
	}
	if b.String() != "viewer deployer admin " {
		t.Errorf("roles = %s", b.String())
	}
}
