package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// ErrOwnApproval: the environment's approval is not_by: deployer, and
// the deployer tried to approve their own release.
var ErrOwnApproval = errors.New("the deployer may not approve their own release")

// approval is who decided on a waiting release, when, and whether they
// let it proceed or rejected it.
type approval struct {
	who    string
	at     time.Time
	reject bool
}

// awaitApproval records rel as awaiting approval, says how to approve it,
// and blocks until Approve, Reject or ctx ends (see decision).
func (m *Manager) awaitApproval(ctx context.Context, rel *Release, p *plan, progress Progress) error {
	ch := m.armApproval(rel.ID)
	defer m.disarmApproval(rel.ID)
	if progress != nil {
		progress(Event{Time: m.now(), Release: rel.ID, Phase: "approval", Awaiting: true,
			Message: fmt.Sprintf("%s to %s needs approval: run `tug approve %s` (or `tug approve --reject %s`)", rel.Service, rel.Environment, rel.ID, rel.ID)})
	}
	return m.decision(ctx, ch, rel, p, progress)
}

// armApproval makes release id approvable; decisions arrive on the
// returned channel until disarmApproval.
func (m *Manager) armApproval(id string) chan approval {
	ch := make(chan approval, 1)
	m.mu.Lock()
	m.approvals[id] = ch
	m.mu.Unlock()
	return ch
}

func (m *Manager) disarmApproval(id string) {
	m.mu.Lock()
	delete(m.approvals, id)
	m.mu.Unlock()
}

// decision waits for the decision on rel. If ctx ends because the server
// stops (cause ErrServerStopping), rel stays awaiting approval for the
// next server; any other end fails it.
func (m *Manager) decision(ctx context.Context, ch chan approval, rel *Release, p *plan, progress Progress) error {
	select {
	case a := <-ch:
		if a.reject { // decide has stored it
			rel.Status, rel.Reason, rel.FinishedAt = StatusFailed, "rejected by "+a.who, &a.at
			emit(progress, m.now, rel.ID, "approval", "rejected by %s", a.who)
			return fmt.Errorf("%w: release %s was rejected by %s", ErrFailed, rel.ID, a.who)
		}
		rel.ApprovedBy, rel.ApprovedAt = a.who, &a.at
		emit(progress, m.now, rel.ID, "approval", "approved by %s", a.who)
		return nil
	case <-ctx.Done():
		if errors.Is(context.Cause(ctx), ErrServerStopping) {
			emit(progress, m.now, rel.ID, "approval", "the server is stopping; %s keeps waiting for approval, and the next server resumes it", rel.ID)
			return fmt.Errorf("%w: release %s still awaits approval", ErrServerStopping, rel.ID)
		}
		rel.Status, rel.Reason, rel.FinishedAt = StatusFailed, "not approved: "+ctx.Err().Error(), m.finishTime()
		if err := m.saveRelease(ctx, rel, p); err != nil {
			m.log.Error("record unapproved release", "release", rel.ID, "err", err)
		}
		return fmt.Errorf("%w: release %s was not approved: %w", ErrFailed, rel.ID, ctx.Err())
	}
}

// ResumeApprovals makes the releases an earlier server left awaiting
// approval wait again, under life (the new server's): approved, each is
// deployed as it would have been. Call it once, after Recover.
func (m *Manager) ResumeApprovals(life context.Context, progress Progress) {
	recs, err := m.opts.Store.ListReleases(life, "", "", 200)
	if err != nil {
		m.log.Error("resume releases awaiting approval", "err", err)
		return
	}
	for _, r := range recs {
		if r.Status != StatusAwaiting {
			continue
		}
		rel, p, err := m.loadRelease(life, r.ID)
		k := key{r.Service, r.Environment}
		if err == nil {
			err = m.acquire(life, k, rel)
		}
		if err != nil {
			m.setStatus(life, r.ID, StatusFailed, "interrupted: could not resume waiting for approval: "+err.Error())
			continue
		}
		m.setBusy(k, rel)
		ch := m.armApproval(rel.ID)
		emit(progress, m.now, rel.ID, "approval", "%s to %s still needs approval: run `tug approve %s` (or `tug approve --reject %s`)", rel.Service, rel.Environment, rel.ID, rel.ID)
		go func() {
			defer m.release(k)
			err := m.decision(life, ch, rel, p, progress)
			m.disarmApproval(rel.ID)
			if err == nil {
				_, _ = m.proceed(life, k, rel, p, progress)
			}
		}()
	}
}

// Approve lets a release waiting for approval proceed.
func (m *Manager) Approve(ctx context.Context, id, who string) (*Release, error) {
	return m.decide(ctx, id, approval{who: whoOr(who), at: m.now()})
}

// Reject fails a release waiting for approval; nothing of it ever starts.
func (m *Manager) Reject(ctx context.Context, id, who string) (*Release, error) {
	return m.decide(ctx, id, approval{who: whoOr(who), at: m.now(), reject: true})
}

// decide records a on the waiting release id before waking its deploy,
// so the stored release says who decided even if the server dies next.
func (m *Manager) decide(ctx context.Context, id string, a approval) (*Release, error) {
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
	// On a store error the release keeps waiting for another decision.
	putBack := func() {
		m.mu.Lock()
		m.approvals[id] = ch
		m.mu.Unlock()
	}
	rel, p, err := m.loadRelease(ctx, id)
	if err != nil {
		putBack()
		return nil, err
	}
	if !a.reject && p.ApprovalNotBy == config.NotByDeployer && a.who == whoOr(rel.Who) {
		putBack()
		return nil, fmt.Errorf("%w: %s deployed %s and %s requires approval by someone else (approval: {not_by: deployer}); they may still reject it",
			ErrOwnApproval, a.who, rel.ID, rel.Environment)
	}
	if a.reject {
		rel.Status, rel.Reason, rel.FinishedAt = StatusFailed, "rejected by "+a.who, &a.at
	} else {
		rel.ApprovedBy, rel.ApprovedAt = a.who, &a.at
	}
	if err := m.saveRelease(ctx, rel, p); err != nil {
		putBack()
		return nil, err
	}
	ch <- a
	return rel, nil
}

// Resume finds what a deploy like req (the same service, environment,
// revision and who) did before the server restarted: a release still
// awaiting approval is waited on, progress hearing that it waits, then
// how it went, until it is live (answered) or failed (an error); one
// that went live is answered at once. found is false when there is
// neither: deploy as usual. The waiting ends with ctx; stopping the
// server (cause ErrServerStopping) leaves the release awaiting approval.
func (m *Manager) Resume(ctx context.Context, req Request, progress Progress) (rel *Release, found bool, err error) {
	p, err := newPlan(m.config(), req.Service, req.Environment)
	if err != nil {
		return nil, false, err
	}
	rev, _ := m.resolveRevision(ctx, req.Source, req.Version)
	recs, err := m.opts.Store.ListReleases(ctx, p.Service, p.Environment, 0)
	if err != nil {
		return nil, false, err
	}
	for i := range recs {
		r := fromRecord(&recs[i])
		if r.Who != req.Who || r.Revision != rev {
			continue
		}
		switch r.Status {
		case StatusLive, StatusSuperseded:
			return r, true, nil
		case StatusAwaiting:
			if progress != nil {
				progress(Event{Time: m.now(), Release: r.ID, Phase: "approval", Awaiting: true,
					Message: fmt.Sprintf("%s to %s still needs approval: run `tug approve %s` (or `tug approve --reject %s`)", r.Service, r.Environment, r.ID, r.ID)})
			}
			r, err := m.awaitOutcome(ctx, r.ID, progress)
			return r, true, err
		}
		return nil, false, nil // the newest such release ended otherwise: deploy anew
	}
	return nil, false, nil
}

// awaitOutcome follows release id, which another goroutine drives (the
// approval ResumeApprovals re-armed), until it is live or failed.
func (m *Manager) awaitOutcome(ctx context.Context, id string, progress Progress) (*Release, error) {
	tick := time.NewTicker(m.opts.PollInterval)
	defer tick.Stop()
	decided := false
	for {
		rec, err := m.opts.Store.GetRelease(ctx, id)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if err == nil {
			r := fromRecord(rec)
			if !decided && r.Status != StatusAwaiting {
				decided = true
				if r.ApprovedBy != "" {
					emit(progress, m.now, id, "approval", "approved by %s", r.ApprovedBy)
				}
			}
			switch r.Status {
			case StatusLive, StatusSuperseded:
				emit(progress, m.now, id, "done", "%s is live in %s", id, r.Environment)
				return r, nil
			case StatusFailed, StatusRolledBack:
				return r, fmt.Errorf("%w: release %s: %s", ErrFailed, id, r.Reason)
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), ErrServerStopping) {
				return nil, fmt.Errorf("%w: release %s still awaits approval", ErrServerStopping, id)
			}
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}
