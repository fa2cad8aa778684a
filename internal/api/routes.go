package api

import (
	"net/http"

	"github.com/tugdev/tug/internal/deploy"
)

// routeTable is every API operation. Routes are registered from this
// table only, and OpenAPI is generated from it, so the two cannot drift.
func (h *Handler) routeTable() []route {
	return []route{
		{method: http.MethodGet, path: "/api/health", summary: "The server is up: its PID and state directory.",
			resp: HealthResponse{}, h: h.getHealth},
		{method: http.MethodGet, path: "/api/status", summary: "Declared services and environments, live releases and weights, instances and their health.",
			resp: StatusResponse{}, h: h.getStatus},
		{method: http.MethodPost, path: "/api/deploys", summary: "Deploy a service to an environment; streams progress events, then the release. The deploy goes on if the client stops reading.",
			body: DeployRequest{}, resp: StreamLine{}, stream: true, h: h.postDeploy},
		{method: http.MethodPost, path: "/api/rollbacks", summary: "Roll a service back to its previous good release; streams like /api/deploys.",
			body: RollbackRequest{}, resp: StreamLine{}, stream: true, h: h.postRollback},
		{method: http.MethodGet, path: "/api/releases", summary: "Releases of a service, newest first.",
			query: []queryParam{{"service", "the service", true}, {"env", "only this environment", false}},
			resp:  []deploy.Release{}, h: h.getReleases},
		{method: http.MethodPost, path: "/api/releases/{id}/approve", summary: "Let a release that waits for approval proceed.",
			body: ApproveRequest{}, resp: deploy.Release{}, h: h.postApprove},
		{method: http.MethodPost, path: "/api/releases/{id}/reject", summary: "Fail a release that waits for approval; nothing of it starts.",
			body: ApproveRequest{}, resp: deploy.Release{}, h: h.postReject},
		{method: http.MethodPost, path: "/api/down", summary: "Stop the services of an environment (all, without one): out of the routing table, drained, stopped, their deploy state forgotten; release history stays.",
			body: DownRequest{}, resp: DownResponse{}, h: h.postDown},
		{method: http.MethodPost, path: "/api/apply", summary: "Reload tug.yaml; a file with errors is refused (400 with positioned details) and the running config stays.",
			resp: ConfigResponse{}, h: h.postApply},
		{method: http.MethodGet, path: "/api/config", summary: "The config in force.",
			resp: ConfigResponse{}, h: h.getConfig},
		{method: http.MethodGet, path: "/api/openapi.json", summary: "This document.",
			h: h.getOpenAPI},
		{method: http.MethodGet, path: "/metrics", summary: "Prometheus metrics of the proxy and the server (text exposition format).",
			text: "text/plain; version=0.0.4", h: h.getMetrics},
	}
}

func (h *Handler) getHealth(w http.ResponseWriter, _ *http.Request) error {
	resp := h.opts.Health
	resp.Status = "ok"
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h *Handler) getMetrics(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Metrics == nil {
		return withStatus(http.StatusNotFound, "not_found", errNoMetrics)
	}
	h.opts.Metrics.ServeHTTP(w, r)
	return nil
}

func (h *Handler) getOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, h.openAPI())
	return nil
}
