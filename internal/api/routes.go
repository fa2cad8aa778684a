package api

import (
	"context"
	"net/http"
	"slices"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/flags"
	"github.com/tugdev/tug/internal/forge"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/secretstore"
)

// The server's own operations; the rooms declare theirs (alert.OpAlerts,
// logs.OpLogs, metrics.OpQuery, ...).
var (
	OpHealth = endpoint.Declare[endpoint.None, endpoint.None, HealthResponse](http.MethodGet, "/api/health", endpoint.Viewer,
		"The server is up: its PID and state directory.")
	OpStatus = endpoint.Declare[endpoint.None, endpoint.None, StatusResponse](http.MethodGet, "/api/status", endpoint.Viewer,
		"Declared services and environments, live releases and weights, instances and their health.")
	OpDeploy = endpoint.Declare[endpoint.None, DeployRequest, StreamLine](http.MethodPost, "/api/deploys", endpoint.Deployer,
		"Deploy a service to an environment; streams progress events, then the release. The deploy goes on if the client stops reading.")
	OpRollback = endpoint.Declare[endpoint.None, RollbackRequest, StreamLine](http.MethodPost, "/api/rollbacks", endpoint.Deployer,
		"Roll a service back to its previous good release; streams like /api/deploys.")
	OpReleases = endpoint.Declare[ReleasesParams, endpoint.None, []deploy.Release](http.MethodGet, "/api/releases", endpoint.Viewer,
		"Releases of a service, newest first.")
	OpApprove = endpoint.Declare[ReleaseParams, ApproveRequest, deploy.Release](http.MethodPost, "/api/releases/{id}/approve", endpoint.Deployer,
		"Let a release that waits for approval proceed.").OptionalBody()
	OpReject = endpoint.Declare[ReleaseParams, ApproveRequest, deploy.Release](http.MethodPost, "/api/releases/{id}/reject", endpoint.Deployer,
		"Fail a release that waits for approval; nothing of it starts.").OptionalBody()
	OpDown = endpoint.Declare[endpoint.None, DownRequest, DownResponse](http.MethodPost, "/api/down", endpoint.Deployer,
		"Stop the services of an environment (all, without one): out of the routing table, drained, stopped, their deploy state forgotten; release history stays.").OptionalBody()
	OpApply = endpoint.Declare[endpoint.None, endpoint.None, ConfigResponse](http.MethodPost, "/api/apply", endpoint.Admin,
		"Reload tug.yaml; a file with errors is refused (400 with positioned details) and the running config stays.")
	OpConfig = endpoint.Declare[endpoint.None, endpoint.None, ConfigResponse](http.MethodGet, "/api/config", endpoint.Viewer,
		"The config in force as written: ${VAR} references unexpanded, secret-bearing values as <secret>.")
	OpOpenAPI = endpoint.Declare[endpoint.None, endpoint.None, map[string]any](http.MethodGet, "/api/openapi.json", endpoint.Viewer,
		"This document.")
	OpMetrics = endpoint.Declare[endpoint.None, endpoint.None, string](http.MethodGet, "/metrics", endpoint.Viewer,
		"Prometheus metrics of the proxy and the server (text exposition format).")
)

// routeTable is every operation of the API, the rooms' included. The
// Router registers these and nothing else, and the OpenAPI document is
// generated from them, so the two cannot drift.
func (h *Handler) routeTable() []endpoint.Op {
	return slices.Concat([]endpoint.Op{
		OpHealth.JSON(h.getHealth),
		OpStatus.JSON(h.getStatus),
		OpDeploy.Stream(h.postDeploy),
		OpRollback.Stream(h.postRollback),
		OpReleases.JSON(h.getReleases),
		OpApprove.JSON(h.decide(Deployer.Approve)),
		OpReject.JSON(h.decide(Deployer.Reject)),
		OpDown.JSON(h.postDown),
		OpApply.JSON(h.postApply),
		OpConfig.JSON(h.getConfig),
		OpOpenAPI.JSON(h.getOpenAPI),
		OpMetrics.Write("text/plain; version=0.0.4", h.getMetrics),
	},
		alert.Ops(h.opts.Alerts),
		logs.Ops(h.opts.Logs),
		metrics.Ops(h.opts.Monitor),
		access.Ops(h.opts.Tokens),
		audit.Ops(h.opts.Audit, h.opts.Now),
		doctor.Ops(h.opts.Security),
		secretstore.Ops(h.opts.Secrets),
		flags.Ops(h.opts.Flags),
		runner.Ops(h.opts.Runs),
		forge.Ops(h.opts.Hooks),
		incident.Ops(h.opts.Incidents),
		backup.Ops(h.opts.Backups),
	)
}

func (h *Handler) getHealth(context.Context, endpoint.None, endpoint.None) (HealthResponse, error) {
	resp := h.opts.Health
	resp.Status = "ok"
	return resp, nil
}

func (h *Handler) getMetrics(w http.ResponseWriter, r *http.Request, _ endpoint.None) error {
	if h.opts.Metrics == nil {
		return errNoMetrics
	}
	h.opts.Metrics.ServeHTTP(w, r)
	return nil
}

func (h *Handler) getOpenAPI(context.Context, endpoint.None, endpoint.None) (map[string]any, error) {
	return h.openAPI(), nil
}
