package api

import (
	"encoding/json"
	"net/http"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
)

func (h *Handler) getStatus(w http.ResponseWriter, r *http.Request) error {
	snap := h.opts.Config.Current()
	live, err := h.opts.Deployer.Status(r.Context())
	if err != nil {
		return err
	}
	if live == nil {
		live = []deploy.ServiceStatus{}
	}
	writeJSON(w, http.StatusOK, buildStatus(snap, live, h.opts.ProxyHTTP))
	return nil
}

// buildStatus joins what the config declares with what runs.
func buildStatus(snap ConfigSnapshot, live []deploy.ServiceStatus, proxyHTTP string) StatusResponse {
	cfg := snap.Config
	st := StatusResponse{
		Project:      cfg.Project,
		ConfigFile:   cfg.File,
		ConfigLoaded: snap.LoadedAt,
		Live:         live,
		ProxyHTTP:    proxyHTTP,
		Environments: []EnvironmentInfo{},
		Services:     []ServiceInfo{},
	}
	envs := environmentNames(cfg)
	for _, name := range envs {
		info := EnvironmentInfo{Name: name, Default: name == cfg.DefaultEnvironment()}
		if e := cfg.Environments[name]; e != nil {
			info.Approval = e.Approval
		}
		st.Environments = append(st.Environments, info)
	}
	for _, name := range serviceNames(cfg) {
		s := cfg.Services[name]
		info := ServiceInfo{Name: name, Strategy: "rolling", Runtime: "process", Routes: map[string][]string{}}
		if s.Deploy != nil && s.Deploy.Strategy != "" {
			info.Strategy = s.Deploy.Strategy
		}
		if s.Image != "" {
			info.Runtime = "docker"
		}
		for _, env := range envs {
			info.Routes[env] = EffectiveRoutes(s, env)
		}
		st.Services = append(st.Services, info)
	}
	return st
}

// EffectiveRoutes is where service s is served in env: the environment's
// routes when it overrides them, else the service's.
func EffectiveRoutes(s *config.Service, env string) []string {
	if o := s.Environments[env]; o != nil && len(o.Routes) > 0 {
		return o.Routes
	}
	if s.Routes == nil {
		return []string{}
	}
	return s.Routes
}

func (h *Handler) getConfig(w http.ResponseWriter, _ *http.Request) error {
	resp, err := configResponse(h.opts.Config.Current(), false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (h *Handler) postApply(w http.ResponseWriter, r *http.Request) error {
	snap, changed, err := h.opts.Config.Apply(r.Context())
	if err != nil {
		return err
	}
	resp, err := configResponse(snap, changed)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func configResponse(snap ConfigSnapshot, changed bool) (ConfigResponse, error) {
	b, err := json.Marshal(snap.Config)
	if err != nil {
		return ConfigResponse{}, err
	}
	return ConfigResponse{File: snap.Config.File, LoadedAt: snap.LoadedAt, Hash: snap.Hash, Changed: changed, Config: b,
		Warnings: configDetails(snap.Warnings), Restart: snap.Restart}, nil
}
