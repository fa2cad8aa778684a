package api

import (
	"cmp"
	"context"
	"strings"

	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/endpoint"
)

func (h *Handler) postDeploy(ctx context.Context, _ endpoint.None, req DeployRequest, send func(StreamLine) error) error {
	env, err := h.target(ctx, req.Service, req.Environment)
	if err != nil {
		return err
	}
	dreq := deploy.Request{Service: req.Service, Environment: env, Version: req.Version, Who: who(ctx, req.Who), Force: req.Force, Smoke: req.Smoke}
	return h.streamRelease(ctx, send, func(ctx context.Context, p deploy.Progress) (*deploy.Release, error) {
		return h.opts.Deployer.Deploy(ctx, dreq, p)
	})
}

func (h *Handler) postRollback(ctx context.Context, _ endpoint.None, req RollbackRequest, send func(StreamLine) error) error {
	env, err := h.target(ctx, req.Service, req.Environment)
	if err != nil {
		return err
	}
	by := who(ctx, req.Who)
	return h.streamRelease(ctx, send, func(ctx context.Context, p deploy.Progress) (*deploy.Release, error) {
		return h.opts.Deployer.Rollback(ctx, req.Service, env, by, p)
	})
}

func (h *Handler) postDown(ctx context.Context, _ endpoint.None, req DownRequest) (DownResponse, error) {
	audit.SetTarget(ctx, cmp.Or(req.Environment, "every environment"))
	if req.Environment != "" {
		if _, err := resolveEnvironment(h.config(), req.Environment); err != nil {
			return DownResponse{}, err
		}
	}
	stopped, err := h.opts.Deployer.Down(ctx, req.Environment)
	if err != nil {
		return DownResponse{}, err
	}
	if stopped == nil {
		stopped = []string{}
	}
	return DownResponse{Stopped: stopped}, nil
}

func (h *Handler) getReleases(ctx context.Context, p ReleasesParams, _ endpoint.None) ([]deploy.Release, error) {
	cfg := h.config()
	if err := checkService(cfg, p.Service, "query"); err != nil {
		return nil, err
	}
	if p.Env != "" {
		if _, err := resolveEnvironment(cfg, p.Env); err != nil {
			return nil, err
		}
	}
	rels, err := h.opts.Deployer.Releases(ctx, p.Service, p.Env)
	if err != nil {
		return nil, err
	}
	if rels == nil {
		rels = []deploy.Release{}
	}
	return rels, nil
}

// decide answers an approval or a rejection of the waiting release {id}.
func (h *Handler) decide(fn func(d Deployer, ctx context.Context, id, who string) (*deploy.Release, error)) func(context.Context, ReleaseParams, ApproveRequest) (deploy.Release, error) {
	return func(ctx context.Context, p ReleaseParams, req ApproveRequest) (deploy.Release, error) {
		rel, err := fn(h.opts.Deployer, ctx, p.ID, who(ctx, req.Who))
		if err != nil {
			return deploy.Release{}, err
		}
		return *rel, nil
	}
}

// target checks a request's service and resolves its environment (the
// default one when empty) against the config in force, and names them
// as the call's target in the audit log.
func (h *Handler) target(ctx context.Context, service, env string) (string, error) {
	audit.SetTarget(ctx, strings.TrimSuffix(service+"/"+env, "/"))
	cfg := h.config()
	if err := checkService(cfg, service, "body"); err != nil {
		return "", err
	}
	env, err := resolveEnvironment(cfg, env)
	if err == nil {
		audit.SetTarget(ctx, service+"/"+env)
	}
	return env, err
}
