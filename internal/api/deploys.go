package api

import (
	"context"
	"net/http"

	"github.com/tugdev/tug/internal/deploy"
)

func (h *Handler) postDeploy(w http.ResponseWriter, r *http.Request) error {
	var req DeployRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	env, err := h.target(req.Service, req.Environment)
	if err != nil {
		return err
	}
	dreq := deploy.Request{Service: req.Service, Environment: env, Version: req.Version, Who: who(req.Who), Force: req.Force}
	return h.streamRelease(w, r, func(ctx context.Context, p deploy.Progress) (*deploy.Release, error) {
		return h.opts.Deployer.Deploy(ctx, dreq, p)
	})
}

func (h *Handler) postRollback(w http.ResponseWriter, r *http.Request) error {
	var req RollbackRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	env, err := h.target(req.Service, req.Environment)
	if err != nil {
		return err
	}
	return h.streamRelease(w, r, func(ctx context.Context, p deploy.Progress) (*deploy.Release, error) {
		return h.opts.Deployer.Rollback(ctx, req.Service, env, who(req.Who), p)
	})
}

func (h *Handler) postDown(w http.ResponseWriter, r *http.Request) error {
	var req DownRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	if req.Environment != "" {
		if _, err := resolveEnvironment(h.config(), req.Environment); err != nil {
			return err
		}
	}
	stopped, err := h.opts.Deployer.Down(r.Context(), req.Environment)
	if err != nil {
		return err
	}
	if stopped == nil {
		stopped = []string{}
	}
	writeJSON(w, http.StatusOK, DownResponse{Stopped: stopped})
	return nil
}

func (h *Handler) getReleases(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	service, env := q.Get("service"), q.Get("env")
	cfg := h.config()
	if err := checkService(cfg, service, "query"); err != nil {
		return err
	}
	if env != "" {
		if _, err := resolveEnvironment(cfg, env); err != nil {
			return err
		}
	}
	rels, err := h.opts.Deployer.Releases(r.Context(), service, env)
	if err != nil {
		return err
	}
	if rels == nil {
		rels = []deploy.Release{}
	}
	writeJSON(w, http.StatusOK, rels)
	return nil
}

func (h *Handler) postApprove(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, h.opts.Deployer.Approve)
}

func (h *Handler) postReject(w http.ResponseWriter, r *http.Request) error {
	return h.decide(w, r, h.opts.Deployer.Reject)
}

// decide answers an approval or a rejection of the waiting release {id}.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, id, who string) (*deploy.Release, error)) error {
	var req ApproveRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	id := r.PathValue("id")
	if id == "" {
		return badRequest("path: release id is required")
	}
	rel, err := fn(r.Context(), id, who(req.Who))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// target checks a request's service and resolves its environment (the
// default one when empty) against the config in force.
func (h *Handler) target(service, env string) (string, error) {
	cfg := h.config()
	if err := checkService(cfg, service, "body"); err != nil {
		return "", err
	}
	return resolveEnvironment(cfg, env)
}
