package api

import (
	"encoding/json"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

// DeployRequest is the body of POST /api/deploys. Environment "" means
// the config's default environment (the first declared, or "default").
type DeployRequest struct {
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	// Version is a git revision for process services (default HEAD).
	Version string `json:"version,omitempty"`
	Who     string `json:"who,omitempty"`
	// Force deploys a revision that failed in another environment.
	Force bool `json:"force,omitempty"`
	// Smoke are checks of the release once all traffic is on it (a
	// deploy job's smoke:); a failure sends traffic back.
	Smoke []config.Smoke `json:"smoke,omitempty"`
}

// DownRequest is the body of POST /api/down. Environment "" means every
// environment.
type DownRequest struct {
	Environment string `json:"environment,omitempty"`
}

// DownResponse is the answer of POST /api/down.
type DownResponse struct {
	// Stopped are the instances stopped.
	Stopped []string `json:"stopped"`
}

// RollbackRequest is the body of POST /api/rollbacks.
type RollbackRequest struct {
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	Who         string `json:"who,omitempty"`
}

// ReleasesParams select the releases of GET /api/releases.
type ReleasesParams struct {
	Service string `query:"service,required" doc:"the service"`
	Env     string `query:"env" doc:"only this environment"`
}

// ReleaseParams name one release.
type ReleaseParams struct {
	ID string `path:"id" doc:"the release ID"`
}

// ApproveRequest is the optional body of POST /api/releases/{id}/approve
// and /reject.
type ApproveRequest struct {
	Who string `json:"who,omitempty"`
}

// StreamLine is one line of the NDJSON answer of POST /api/deploys and
// POST /api/rollbacks: progress lines carry Event; the last line has
// Done set and the Release, plus Error when the deploy failed.
type StreamLine struct {
	Event   *deploy.Event   `json:"event,omitempty"`
	Done    bool            `json:"done,omitempty"`
	Release *deploy.Release `json:"release,omitempty"`
	Error   *endpoint.Error `json:"error,omitempty"`
	// Status is the HTTP status the error would have had on its own.
	Status int `json:"status,omitempty"`
}

// EnvironmentInfo is one declared environment.
type EnvironmentInfo struct {
	Name     string `json:"name"`
	Approval string `json:"approval,omitempty"`
	// ApprovalNotBy is "deployer" when the deployer may not approve.
	ApprovalNotBy string `json:"approval_not_by,omitempty"`
	Default       bool   `json:"default,omitempty"`
}

// ServiceInfo is one declared service and where it is served.
type ServiceInfo struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	Runtime  string `json:"runtime"` // process | docker
	// Routes maps an environment to the service's route there.
	Routes map[string][]string `json:"routes"`
}

// StatusResponse is GET /api/status: what is declared and what runs.
type StatusResponse struct {
	Project      string                 `json:"project"`
	ConfigFile   string                 `json:"config_file"`
	ConfigLoaded time.Time              `json:"config_loaded"`
	Environments []EnvironmentInfo      `json:"environments"`
	Services     []ServiceInfo          `json:"services"`
	Live         []deploy.ServiceStatus `json:"live"`
	// ProxyHTTP is the proxy's HTTP listener ("127.0.0.1:8080").
	ProxyHTTP string `json:"proxy_http,omitempty"`
}

// ConfigResponse is GET /api/config and the answer of POST /api/apply.
type ConfigResponse struct {
	File     string    `json:"file"`
	LoadedAt time.Time `json:"loaded_at"`
	Hash     string    `json:"hash"`
	Changed  bool      `json:"changed"`
	// Config is the document as written (see config.AsWritten): ${VAR}
	// references unexpanded, secret-bearing values as "<secret>".
	Config json.RawMessage `json:"config"`
	// Warnings do not stop the config but make parts of it useless.
	Warnings []endpoint.Detail `json:"warnings,omitempty"`
	// Restart lists changed keys that take effect only after a restart.
	Restart []config.Restart `json:"restart,omitempty"`
}

// HealthResponse is GET /api/health: the server is up.
type HealthResponse struct {
	Status   string `json:"status"`
	PID      int    `json:"pid"`
	StateDir string `json:"state_dir"`
	Version  string `json:"version,omitempty"`
}
