package api

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/secret"
)

// schemaPrefix is where the document keeps its named schemas.
const schemaPrefix = "#/components/schemas/"

// schemaOverrides describe types that encode themselves in a shape their
// Go fields do not show.
func schemaOverrides() map[reflect.Type]map[string]any {
	codes := make([]string, 0, len(endpoint.Codes()))
	for _, c := range endpoint.Codes() {
		codes = append(codes, string(c))
	}
	return map[reflect.Type]map[string]any{
		reflect.TypeFor[labels.Labels](): {"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		reflect.TypeFor[secret.Value]():  {"type": "string", "const": "<secret>"},
		reflect.TypeFor[endpoint.Code](): {"type": "string", "enum": codes},
	}
}

// openAPI describes every operation of the route table as an OpenAPI 3.1
// document, with JSON Schemas generated from the Go types the handlers
// decode and encode, so they cannot drift from the wire format. Each
// operation lists the role it needs under x-tug-role; on TCP every
// operation needs a bearer token (security), except those that check a
// signature themselves (x-tug-auth: signature, no security).
func (h *Handler) openAPI() map[string]any {
	g := config.NewWireSchemas(schemaPrefix, schemaOverrides())
	tugError := g.Of(reflect.TypeFor[endpoint.ErrorResponse]())
	paths := map[string]any{}
	for _, op := range h.router.Ops() {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = operation(g, &op, tugError)
	}
	roles := make([]string, 0, 3)
	for _, r := range endpoint.Roles() {
		roles = append(roles, string(r))
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "tug server API",
			"version": "1",
			"description": "The control plane of tug: deploys, rollbacks, releases, approvals, config, status, alerts, " +
				"silences, logs, and a Prometheus-compatible query API under /api/v1/. Served on the state directory's " +
				"api.sock (the local admin's) and optionally on TCP, where every request needs Authorization: Bearer TOKEN " +
				"(tug token create NAME --role ROLE; 401 without a valid one). Each operation names the role it needs (x-tug-role: " + strings.Join(roles, ", ") +
				"; an admin may do what a deployer may, a deployer what a viewer may; 403 otherwise); changes and reads marked " +
				"x-tug-audited are written to the audit log; errors are {\"error\": {\"code\", \"message\", \"details\"?}} except under /api/v1/, which answers " +
				"Prometheus's own envelope.",
		},
		"paths":    paths,
		"security": []any{map[string]any{"bearer": []any{}}},
		"components": map[string]any{
			"schemas": g.Defs(),
			"securitySchemes": map[string]any{"bearer": map[string]any{
				"type": "http", "scheme": "bearer",
				"description": "An API token made by `tug token create`; needed on TCP listeners, not on the unix socket.",
			}},
		},
	}
}

// operation is the OpenAPI operation object of op.
func operation(g *config.WireSchemas, op *endpoint.Op, tugError map[string]any) map[string]any {
	out := map[string]any{
		"summary":     op.Summary,
		"description": "Role: " + string(op.Role) + ".",
		"operationId": operationID(op.Method, op.Path),
		"x-tug-role":  string(op.Role),
	}
	if op.Signed {
		out["x-tug-auth"] = "signature"
		out["security"] = []any{}
		out["description"] = "Role: none; the caller is authenticated by a signature over the request."
	}
	if op.Mutates() || op.Audited {
		out["x-tug-audited"] = true
	}
	var params []any
	for _, p := range op.Parameters() {
		ps := map[string]any{"name": p.Name, "in": p.In, "required": p.Required, "schema": g.Of(p.Type)}
		if p.Doc != "" {
			ps["description"] = p.Doc
		}
		if p.Type.Kind() == reflect.Slice {
			ps["style"], ps["explode"] = "form", true
		}
		params = append(params, ps)
	}
	if params != nil {
		out["parameters"] = params
	}
	if op.Safe && op.Method == http.MethodPost {
		out["description"] = "Role: " + string(op.Role) + ". The parameters may also come as an application/x-www-form-urlencoded body."
	}
	if op.Body != nil {
		out["requestBody"] = map[string]any{
			"required": op.BodyRequired(),
			"content":  map[string]any{endpoint.MediaJSON: map[string]any{"schema": g.Of(op.Body)}},
		}
	}
	ok := map[string]any{"description": "OK"}
	switch {
	case op.Stream:
		ok["description"] = "One JSON value per line."
		ok["content"] = map[string]any{op.Media: map[string]any{"schema": g.Of(op.Answer)}}
	case op.Media != endpoint.MediaJSON:
		ok["content"] = map[string]any{op.Media: map[string]any{"schema": map[string]any{"type": "string"}}}
	default:
		ok["content"] = map[string]any{op.Media: map[string]any{"schema": g.Of(op.Answer)}}
	}
	errSchema, errDoc := tugError, `An error: {"error": {"code", "message", "details"?}}.`
	if op.ErrorBody != nil {
		errSchema, errDoc = g.Of(op.ErrorBody), "An error in Prometheus's envelope: {\"status\": \"error\", \"errorType\", \"error\"}."
	}
	out["responses"] = map[string]any{
		"200":     ok,
		"default": map[string]any{"description": errDoc, "content": map[string]any{endpoint.MediaJSON: map[string]any{"schema": errSchema}}},
	}
	return out
}

// operationID is "getApiReleases" style: unique per method and path.
func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool {
		return r == '/' || r == '{' || r == '}' || r == '.' || r == '-' || r == '_'
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
