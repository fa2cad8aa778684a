package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/store"
)

// fromRecord converts the stored form of a release.
func fromRecord(r *store.Release) *Release {
	out := &Release{
		ID: r.ID, Service: r.Service, Environment: r.Environment, Revision: r.Revision, Digest: r.Digest,
		ConfigHash: r.ConfigHash, Who: r.Who, CreatedAt: r.CreatedAt, Strategy: r.Strategy,
		Status: r.Status, Reason: r.Reason, ApprovedBy: r.ApprovedBy,
	}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt
		out.FinishedAt = &t
	}
	if !r.ApprovedAt.IsZero() {
		t := r.ApprovedAt
		out.ApprovedAt = &t
	}
	if r.Spec != "" {
		var p struct {
			Refs map[string]secret.Ref `json:"secret_refs"`
		}
		if json.Unmarshal([]byte(r.Spec), &p) == nil {
			out.Secrets = p.Refs
		}
	}
	return out
}

// toRecord converts a release and its plan for the store.
func toRecord(r *Release, p *plan) *store.Release {
	out := &store.Release{
		ID: r.ID, Service: r.Service, Environment: r.Environment, Revision: r.Revision, Digest: r.Digest,
		ConfigHash: r.ConfigHash, Who: r.Who, CreatedAt: r.CreatedAt, Strategy: r.Strategy,
		Status: r.Status, Reason: r.Reason, ApprovedBy: r.ApprovedBy,
	}
	if r.FinishedAt != nil {
		out.FinishedAt = *r.FinishedAt
	}
	if r.ApprovedAt != nil {
		out.ApprovedAt = *r.ApprovedAt
	}
	if p != nil {
		spec, _ := json.Marshal(p)
		out.Spec, out.Dir = string(spec), p.ReleaseDir
	}
	return out
}

// loadRelease reads a release and its plan from the store.
func (m *Manager) loadRelease(ctx context.Context, id string) (*Release, *plan, error) {
	r, err := m.opts.Store.GetRelease(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var p plan
	if r.Spec != "" {
		if err := json.Unmarshal([]byte(r.Spec), &p); err != nil {
			return nil, nil, fmt.Errorf("release %s: bad stored spec: %w", id, err)
		}
	}
	return fromRecord(r), &p, nil
}

// saveRelease writes a release's mutable fields.
func (m *Manager) saveRelease(ctx context.Context, r *Release, p *plan) error {
	if err := m.opts.Store.UpdateRelease(context.WithoutCancel(ctx), toRecord(r, p)); err != nil {
		return fmt.Errorf("deploy: record release %s: %w", r.ID, err)
	}
	return nil
}

// setStatus changes a release's status (and reason), finishing it when the
// status is final. The plan stored with it is kept.
func (m *Manager) setStatus(ctx context.Context, id, status, reason string) (*Release, error) {
	r, p, err := m.loadRelease(context.WithoutCancel(ctx), id)
	if err != nil {
		return nil, err
	}
	r.Status = status
	if reason != "" {
		r.Reason = reason
	}
	if status != StatusDeploying && status != StatusPending && status != StatusAwaiting {
		now := m.now()
		r.FinishedAt = &now
	}
	return r, m.saveRelease(ctx, r, p)
}

// Releases lists releases of service (all environments if env is ""),
// newest first.
func (m *Manager) Releases(ctx context.Context, service, env string) ([]Release, error) {
	recs, err := m.opts.Store.ListReleases(ctx, service, env, 0)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		if c := m.config(); c != nil && service != "" && c.Services[service] == nil {
			return nil, fmt.Errorf("%w %q", ErrUnknownService, service)
		}
	}
	out := make([]Release, 0, len(recs))
	for i := range recs {
		out = append(out, *fromRecord(&recs[i]))
	}
	return out, nil
}

// finishTime is a pointer to now, for FinishedAt.
func (m *Manager) finishTime() *time.Time {
	t := m.now()
	return &t
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
