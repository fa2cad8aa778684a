package deploy

import (
	"context"
	"fmt"
	"time"
)

// approval is who let a waiting release proceed, and when.
type approval struct {
	who string
	at  time.Time
}

// awaitApproval records rel as awaiting approval, says how to approve it,
// and blocks until Approve or ctx ends (then the release fails).
func (m *Manager) awaitApproval(ctx context.Context, rel *Release, p *plan, progress Progress) error {
	ch := make(chan approval, 1)
	m.mu.Lock()
	m.approvals[rel.ID] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.approvals, rel.ID)
		m.mu.Unlock()
	}()
	emit(progress, m.now, rel.ID, "approval", "%s to %s needs approval: run `tug approve %s`", rel.Service, rel.Environment, rel.ID)
	select {
	case a := <-ch:
		rel.ApprovedBy, rel.ApprovedAt = a.who, &a.at
		emit(progress, m.now, rel.ID, "approval", "approved by %s", a.who)
		return nil
	case <-ctx.Done():
		rel.Status, rel.Reason, rel.FinishedAt = StatusFailed, "not approved: "+ctx.Err().Error(), m.finishTime()
		if err := m.saveRelease(ctx, rel, p); err != nil {
			m.log.Error("record unapproved release", "release", rel.ID, "err", err)
		}
		return fmt.Errorf("%w: release %s was not approved: %w", ErrFailed, rel.ID, ctx.Err())
	}
}

// Approve lets a release waiting for approval proceed.
func (m *Manager) Approve(ctx context.Context, id, who string) (*Release, error) {
	m.mu.Lock()
	ch := m.approvals[id]
	if ch != nil {
		delete(m.approvals, id)
	}
	m.mu.Unlock()
	if ch == nil {
		if _, err := m.opts.Store.GetRelease(ctx, id); isNotFound(err) {
			return nil, fmt.Errorf("%w: no release %q", ErrNotAwaiting, id)
		} else if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s", ErrNotAwaiting, id)
	}
	a := approval{who: whoOr(who), at: m.now()}
	rel, p, err := m.loadRelease(ctx, id)
	if err != nil {
		return nil, err
	}
	rel.ApprovedBy, rel.ApprovedAt = a.who, &a.at
	if err := m.saveRelease(ctx, rel, p); err != nil {
		return nil, err
	}
	ch <- a
	return rel, nil
}
