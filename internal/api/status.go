package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/secret"
)

func (h *Handler) getStatus(ctx context.Context, _, _ endpoint.None) (StatusResponse, error) {
	snap := h.opts.Config.Current()
	live, err := h.opts.Deployer.Status(ctx)
	if err != nil {
		return StatusResponse{}, err
	}
	if live == nil {
		live = []deploy.ServiceStatus{}
	}
	return buildStatus(snap, live, h.opts.ProxyHTTP), nil
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
			if e.Approval.Required {
				info.Approval, info.ApprovalNotBy = "required", e.Approval.NotBy
			}
		}
		st.Environments = append(st.Environments, info)
	}
	for _, name := range serviceNames(cfg) {
		s := cfg.Services[name]
		info := ServiceInfo{Name: name, Strategy: "rolling", Runtime: "process", Routes: map[string][]string{}}
		if s.Deploy != nil && s.Deploy.Strategy != "" {
			info.Strategy = s.Deploy.Strategy
		}
		if s.RunsContainers() {
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

func (h *Handler) getConfig(context.Context, endpoint.None, endpoint.None) (ConfigResponse, error) {
	return configResponse(h.opts.Config.Current(), false)
}

func (h *Handler) postApply(ctx context.Context, _, _ endpoint.None) (ConfigResponse, error) {
	snap, changed, err := h.opts.Config.Apply(ctx)
	if err != nil {
		return ConfigResponse{}, err
	}
	return configResponse(snap, changed)
}

// configResponse shows the config as its file is written, never with the
// values ${VAR} references expand to (an environment's database URL or
// webhook), and with every secret-bearing value masked.
func configResponse(snap ConfigSnapshot, changed bool) (ConfigResponse, error) {
	doc, err := config.AsWritten(snap.Source, secret.Value{}.String())
	if err != nil {
		return ConfigResponse{}, fmt.Errorf("showing the config: %w", err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return ConfigResponse{}, err
	}
	return ConfigResponse{File: snap.Config.File, LoadedAt: snap.LoadedAt, Hash: snap.Hash, Changed: changed, Config: bytes.TrimSpace(b.Bytes()),
		Warnings: configDetails(snap.Warnings), Restart: snap.Restart}, nil
}
