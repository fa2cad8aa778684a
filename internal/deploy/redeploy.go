package deploy

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotLive: a redeploy of a service that has no live release in the
// environment; nothing runs that would need new values.
var ErrNotLive = errors.New("no live release")

// Redeploy starts a new release of what runs live for service in env (the
// same git revision, or the same pinned image) with the config in force
// and the current secret values, switched to with the service's strategy
// like any deploy, so requests keep being answered. Secret rotation uses
// it to roll running services onto new values. It waits for no approval:
// the code is what was approved; why says what changed (the release's
// reason). ErrNotLive when nothing of service runs in env.
func (m *Manager) Redeploy(ctx context.Context, service, env, who, why string, progress Progress) (*Release, error) {
	cfg := m.config()
	if cfg == nil {
		return nil, fmt.Errorf("%w %q: no config loaded", ErrUnknownService, service)
	}
	env, err := resolveEnv(cfg, env)
	if err != nil {
		return nil, err
	}
	live := m.snapshot(key{service, env}).Live
	if live == "" {
		return nil, fmt.Errorf("%w: %s has nothing running in %s", ErrNotLive, service, env)
	}
	rel, _, err := m.loadRelease(ctx, live)
	if err != nil {
		return nil, err
	}
	version := rel.Revision
	if version == revisionWorktree {
		version = "" // a copy of a directory outside git: copied again
	}
	again := &Release{Digest: rel.Digest, Reason: why}
	return m.deploy(ctx, Request{Service: service, Environment: env, Version: version, Who: who, Force: true}, progress, again)
}
