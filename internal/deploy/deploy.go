package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/secret"
)

// run is one deploy of a release in progress.
type run struct {
	m        *Manager
	k        key
	rel      *Release
	p        *plan
	secrets  map[string]secret.Value
	progress Progress
	// deadline bounds health gates and canary analysis (deploy_timeout).
	deadline time.Time
}

func (r *run) emit(phase, format string, args ...any) {
	emit(r.progress, r.m.now, r.rel.ID, phase, format, args...)
}

// note is progress while a health gate waits.
func (r *run) note(format string, args ...any) { r.emit("health", format, args...) }

// Deploy builds, starts and switches to a new release, blocking until it
// is live or failed. With approval required it waits for Approve.
func (m *Manager) Deploy(ctx context.Context, req Request, progress Progress) (*Release, error) {
	return m.deploy(ctx, req, progress, nil)
}

// deploy is Deploy; again, for a Redeploy, is the live release whose
// revision or image the new one runs.
func (m *Manager) deploy(ctx context.Context, req Request, progress Progress, again *Release) (*Release, error) {
	cfg := m.config()
	p, err := newPlan(cfg, req.Service, req.Environment)
	if err != nil {
		return nil, err
	}
	if again != nil {
		p.Approval = false // the code that runs was approved; only its secrets change
	}
	m.addFlagEnv(p)
	if p.Strategy == strategyCanary && p.Analysis != nil && len(p.Analysis.Queries) > 0 && m.opts.Query == nil {
		return nil, fmt.Errorf("%w: services.%s.deploy.analysis.queries: PromQL analysis needs a metrics engine, and none is configured for this deploy", ErrFailed, p.Service)
	}
	if _, err := m.runtimeFor(p.Runtime); err != nil {
		return nil, err
	}
	// A secret missing in the environment refuses the deploy before
	// anything is recorded or started.
	if _, err := m.resolveSecrets(ctx, p); err != nil {
		return nil, err
	}
	p.Source, p.JobSmoke = req.Source, req.Smoke
	k := key{p.Service, p.Environment}
	rel := &Release{
		Service: p.Service, Environment: p.Environment, ConfigHash: p.ConfigHash, Who: req.Who,
		CreatedAt: m.now(), Strategy: p.Strategy, Status: StatusPending,
	}
	if again != nil {
		rel.Digest, rel.Reason = again.Digest, again.Reason
	}
	if err := m.acquire(ctx, k, rel); err != nil {
		return nil, err
	}
	defer m.release(k)
	var failedElsewhere error
	if p.Runtime == "process" || p.BuildImage != nil {
		if rel.Revision, err = m.resolveRevision(ctx, p.Source, req.Version); err != nil {
			return nil, err
		}
		if failedElsewhere = m.failedElsewhere(ctx, p.Service, p.Environment, rel.Revision); failedElsewhere != nil && !req.Force {
			return nil, failedElsewhere
		}
	}
	if p.Approval {
		rel.Status = StatusAwaiting
	}
	rec := toRecord(rel, p)
	if err := m.opts.Store.CreateRelease(ctx, rec); err != nil {
		return nil, fmt.Errorf("deploy: record release: %w", err)
	}
	rel.ID = rec.ID
	m.setBusy(k, rel)
	if failedElsewhere != nil {
		emit(progress, m.now, rel.ID, "build", "warning: deploying anyway (--force): %v", failedElsewhere)
	}
	if p.Approval {
		if err := m.awaitApproval(ctx, rel, p, progress); err != nil {
			return rel, err
		}
	}
	return m.proceed(ctx, k, rel, p, progress)
}

// proceed takes a release that may go ahead (approved, or needing no
// approval) from build to live or failed. The caller holds k.
func (m *Manager) proceed(ctx context.Context, k key, rel *Release, p *plan, progress Progress) (*Release, error) {
	cfg := m.config()
	var err error
	rel.Status = StatusDeploying
	m.setBusy(k, rel)
	if err := m.saveRelease(ctx, rel, p); err != nil {
		return rel, err
	}
	r := &run{m: m, k: k, rel: rel, p: p, progress: progress}
	if r.secrets, err = m.secretsFor(ctx, p); err != nil {
		return m.failed(ctx, r, err)
	}
	rel.Secrets = p.SecretRefs
	r.emit("build", "release %s of %s to %s (%s, %s)", rel.ID, p.Service, p.Environment, revisionOrImage(rel, p), p.Strategy)
	if err := m.prepare(ctx, rel, p, cfg.File, progress); err != nil {
		return m.failed(ctx, r, err)
	}
	if err := m.saveRelease(ctx, rel, p); err != nil {
		return m.failed(ctx, r, err)
	}
	r.deadline = time.Now().Add(p.DeployTimeout)
	if err := m.execute(ctx, r, "deploy"); err != nil {
		return m.failed(ctx, r, err)
	}
	return m.wentLive(ctx, r)
}

// failedElsewhere says whether revision of service failed or was rolled
// back in another environment than env, and has not gone live there
// since: promoting it is most likely promoting the failure.
func (m *Manager) failedElsewhere(ctx context.Context, service, env, revision string) error {
	if revision == "" || revision == revisionWorktree {
		return nil // the work tree is not one revision: it changes under us
	}
	recs, err := m.opts.Store.ListReleases(ctx, service, "", 0)
	if err != nil {
		return err
	}
	decided := map[string]bool{} // environments whose newest release of revision was seen
	for _, r := range recs {     // newest first
		if r.Environment == env || r.Revision != revision || decided[r.Environment] {
			continue
		}
		switch r.Status {
		case StatusLive, StatusSuperseded:
			decided[r.Environment] = true
		case StatusFailed, StatusRolledBack:
			reason := firstLine(r.Reason)
			if reason != "" {
				reason = ": " + reason
			}
			what := "failed"
			if r.Status == StatusRolledBack {
				what = "was rolled back"
			}
			return fmt.Errorf("%w: %s of %s %s in %s (release %s%s); deploy it anyway with --force",
				ErrFailedElsewhere, shortSHA(revision), service, what, r.Environment, r.ID, reason)
		}
	}
	return nil
}

func revisionOrImage(rel *Release, p *plan) string {
	if p.Runtime == "docker" && p.BuildImage == nil {
		return p.Image
	}
	return shortSHA(rel.Revision)
}

// execute records the op, runs the strategy, and on failure rolls traffic
// back to what served before; on success it finishes the switch.
func (m *Manager) execute(ctx context.Context, r *run, kind string) error {
	err := m.save(ctx, r.k, func(st *envState) {
		var old []instRef
		for _, pl := range st.Pools {
			old = append(old, pl.Instances...)
		}
		st.Op = &opState{Kind: kind, Release: r.rel.ID, Previous: st.Live, Strategy: r.p.Strategy, Phase: "start", Old: old}
	})
	if err != nil {
		return err
	}
	switch r.p.Strategy {
	case strategyBlueGreen:
		err = r.blueGreen(ctx)
	case strategyCanary:
		err = r.canary(ctx)
	default:
		err = r.rolling(ctx)
	}
	if err == nil {
		err = r.jobSmoke(ctx)
	}
	if err != nil {
		r.emit("failed", "%v", err)
		r.emit("traffic", "rolling back: traffic returns to the previous release")
		if aerr := m.abort(ctx, r.k, r.progress); aerr != nil {
			err = fmt.Errorf("%w; rollback: %w", err, aerr)
		}
		return err
	}
	window := time.Duration(0)
	if r.p.Strategy == strategyBlueGreen {
		window = r.p.RollbackWindow
	}
	// The switch is done: finishing must not be cut short by the caller
	// going away.
	return m.finish(context.WithoutCancel(ctx), r.k, window, r.progress)
}

// failed records a failed release and returns it with an ErrFailed error.
func (m *Manager) failed(ctx context.Context, r *run, cause error) (*Release, error) {
	reason := cause.Error()
	r.rel.Status, r.rel.Reason, r.rel.FinishedAt = StatusFailed, reason, m.finishTime()
	if err := m.saveRelease(ctx, r.rel, r.p); err != nil {
		m.log.Error("record failed release", "release", r.rel.ID, "err", err)
	}
	r.emit("failed", "release %s failed", r.rel.ID)
	m.log.Warn("deploy failed", "service", r.k.service, "environment", r.k.env, "release", r.rel.ID, "reason", firstLine(reason))
	if errors.Is(cause, ErrFailed) {
		return r.rel, cause
	}
	return r.rel, fmt.Errorf("%w: %w", ErrFailed, cause)
}

// wentLive records the release live and its predecessor superseded.
func (m *Manager) wentLive(ctx context.Context, r *run) (*Release, error) {
	ctx = context.WithoutCancel(ctx) // traffic has moved: record it whatever the caller does
	prev := ""
	if recs, err := m.opts.Store.ListReleases(ctx, r.k.service, r.k.env, 0); err == nil {
		for _, x := range recs {
			if x.ID != r.rel.ID && x.Status == StatusLive {
				prev = x.ID
				if _, err := m.setStatus(ctx, x.ID, StatusSuperseded, ""); err != nil {
					m.log.Error("record superseded release", "release", x.ID, "err", err)
				}
			}
		}
	}
	r.rel.Status, r.rel.FinishedAt = StatusLive, m.finishTime()
	if err := m.saveRelease(ctx, r.rel, r.p); err != nil {
		return r.rel, err
	}
	m.log.Info("release live", "service", r.k.service, "environment", r.k.env, "release", r.rel.ID, "previous", prev)
	m.pruneReleaseDirs(ctx, r.k)
	if prev != "" {
		r.emit("done", "release %s is live (was %s)", r.rel.ID, prev)
	} else {
		r.emit("done", "release %s is live", r.rel.ID)
	}
	return r.rel, nil
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
