package deploy

import (
	"context"
	"os"
	"path/filepath"
)

// keepReleaseDirs is how many of the newest good releases of a service in
// an environment keep their copy, so that rolling back to them needs no
// rebuild. Older copies are rebuilt from their revision if ever needed.
const keepReleaseDirs = 5

// pruneReleaseDirs removes the release copies of k that no instance runs
// from and that are neither among the newest good releases nor in flight.
// Every deploy adds a copy (with its build output); without this the state
// directory only grows. Errors are logged: pruning never fails a deploy.
func (m *Manager) pruneReleaseDirs(ctx context.Context, k key) {
	recs, err := m.opts.Store.ListReleases(ctx, k.service, k.env, 0)
	if err != nil {
		m.log.Warn("prune releases: list", "err", err)
		return
	}
	inUse := map[string]bool{}
	for name, rt := range m.opts.Runtimes {
		ins, err := rt.List(ctx)
		if err != nil {
			m.log.Warn("prune releases: list instances", "runtime", name, "err", err)
			return // not knowing what runs, remove nothing
		}
		for _, in := range ins {
			inUse[in.Release] = true
		}
	}
	good := 0
	for _, r := range recs { // newest first
		switch r.Status {
		case StatusPending, StatusAwaiting, StatusDeploying:
			continue
		case StatusLive, StatusSuperseded:
			if good++; good <= keepReleaseDirs {
				continue
			}
		}
		if inUse[r.ID] {
			continue
		}
		dir := filepath.Join(m.opts.StateDir, "releases", r.ID)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			m.log.Warn("prune releases: remove", "release", r.ID, "dir", dir, "err", err)
			continue
		}
		m.log.Info("release copy removed", "service", k.service, "environment", k.env, "release", r.ID, "status", r.Status)
	}
}
