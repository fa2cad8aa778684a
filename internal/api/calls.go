package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/tugdev/tug/internal/deploy"
)

// Health checks the server answers.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	var h HealthResponse
	if err := c.Do(ctx, http.MethodGet, "/api/health", nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Status returns GET /api/status.
func (c *Client) Status(ctx context.Context) (*StatusResponse, error) {
	var s StatusResponse
	if err := c.Do(ctx, http.MethodGet, "/api/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Deploy starts a deploy and waits for it, calling each with every
// progress event. A failed deploy returns the release (with its reason)
// and an *Error whose Code is "deploy_failed".
func (c *Client) Deploy(ctx context.Context, req DeployRequest, each func(deploy.Event)) (*deploy.Release, error) {
	return c.streamRelease(ctx, "/api/deploys", req, each)
}

// Rollback rolls a service back and waits, like Deploy.
func (c *Client) Rollback(ctx context.Context, req RollbackRequest, each func(deploy.Event)) (*deploy.Release, error) {
	return c.streamRelease(ctx, "/api/rollbacks", req, each)
}

func (c *Client) streamRelease(ctx context.Context, path string, in any, each func(deploy.Event)) (*deploy.Release, error) {
	var final *StreamLine
	err := c.Stream(ctx, http.MethodPost, path, in, func(raw json.RawMessage) error {
		var line StreamLine
		if err := json.Unmarshal(raw, &line); err != nil {
			return fmt.Errorf("%w: bad stream line %q: %v", ErrUnreachable, raw, err)
		}
		if line.Event != nil && each != nil {
			each(*line.Event)
		}
		if line.Done {
			final = &line
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if final == nil {
		return nil, fmt.Errorf("%w: the server ended the answer before the deploy finished", ErrUnreachable)
	}
	if final.Error != nil {
		final.Error.Status = final.Status
		return final.Release, final.Error
	}
	return final.Release, nil
}

// Releases lists releases of service (env "" for all), newest first.
func (c *Client) Releases(ctx context.Context, service, env string) ([]deploy.Release, error) {
	q := url.Values{"service": {service}}
	if env != "" {
		q.Set("env", env)
	}
	var out []deploy.Release
	if err := c.Do(ctx, http.MethodGet, "/api/releases?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Approve lets a release waiting for approval proceed.
func (c *Client) Approve(ctx context.Context, id, who string) (*deploy.Release, error) {
	return c.decide(ctx, id, "approve", who)
}

// Reject fails a release waiting for approval.
func (c *Client) Reject(ctx context.Context, id, who string) (*deploy.Release, error) {
	return c.decide(ctx, id, "reject", who)
}

func (c *Client) decide(ctx context.Context, id, verb, who string) (*deploy.Release, error) {
	var rel deploy.Release
	if err := c.Do(ctx, http.MethodPost, "/api/releases/"+url.PathEscape(id)+"/"+verb, ApproveRequest{Who: who}, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}

// Down stops the services of env ("" for every environment).
func (c *Client) Down(ctx context.Context, env string) (*DownResponse, error) {
	var out DownResponse
	if err := c.Do(ctx, http.MethodPost, "/api/down", DownRequest{Environment: env}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Apply makes the server reload tug.yaml.
func (c *Client) Apply(ctx context.Context) (*ConfigResponse, error) {
	var out ConfigResponse
	if err := c.Do(ctx, http.MethodPost, "/api/apply", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
