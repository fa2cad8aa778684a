package api

import (
	"context"
	"net/http"
	"testing"
)

type docHandler struct{ http.Handler }

func (docHandler) APIOperations() map[string]string {
	return map[string]string{
		"GET /api/alerts":           "firing alerts",
		"POST /api/alerts/{id}/ack": "acknowledge",
		"GET /api/elsewhere":        "not under this mount",
	}
}

// TestOpenAPIDocumentsMountedOperations: a mounted room that lists its
// operations gets one entry per operation, with path parameters, instead
// of a bare prefix.
func TestOpenAPIDocumentsMountedOperations(t *testing.T) {
	t.Parallel()
	c, _, _ := newTestServer(t, &fakeDeployer{}, func(o *Options) {
		o.Mount = map[string]http.Handler{"/api/alerts": docHandler{http.NotFoundHandler()}}
	})
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := c.Do(context.Background(), http.MethodGet, "/api/openapi.json", nil, &doc); err != nil {
		t.Fatal(err)
	}
	if op, _ := doc.Paths["/api/alerts"]["get"].(map[string]any); op["summary"] != "firing alerts" {
		t.Errorf("GET /api/alerts = %+v", doc.Paths["/api/alerts"])
	}
	ack, _ := doc.Paths["/api/alerts/{id}/ack"]["post"].(map[string]any)
	params, _ := ack["parameters"].([]any)
	if len(params) != 1 || params[0].(map[string]any)["name"] != "id" {
		t.Errorf("POST /api/alerts/{id}/ack = %+v", doc.Paths["/api/alerts/{id}/ack"])
	}
	if _, ok := doc.Paths["/api/elsewhere"]; ok {
		t.Error("an operation outside the mount's prefix was documented under it")
	}
}
