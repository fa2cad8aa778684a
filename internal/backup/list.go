package backup

import (
	"context"
	"github.com/tugdev/tug/internal/config"
	"slices"
	"time"
)

// Snapshot is one snapshot of a backup, as `tug backup ls` shows it.
type Snapshot struct {
	ID      string    `json:"id"`
	ShortID string    `json:"short_id"`
	Backup  string    `json:"backup"`
	Kind    string    `json:"kind"`
	Time    time.Time `json:"time"`
	// Size is the data the snapshot holds (restored, it takes that much).
	Size       int64   `json:"size"`
	AgeSeconds float64 `json:"age_seconds"`
}

// Snapshots lists a backup's snapshots, newest first. Sizes come from
// the run history, or from restic for snapshots it does not know.
func (m *Manager) Snapshots(ctx context.Context, name string) ([]Snapshot, error) {
	c, b, err := m.backup(name)
	if err != nil {
		return nil, err
	}
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return nil, err
	}
	// snapshots says when there is no repository yet.
	snaps, err := r.snapshots(ctx, "tug", "backup:"+name)
	if err != nil {
		return nil, err
	}
	hist, _ := m.History(name)
	sizes := map[string]int64{}
	for _, h := range hist {
		if h.Kind == RecordBackup && h.OK && h.Snapshot != "" {
			sizes[h.Snapshot] = h.Size
		}
	}
	now := m.o.Now()
	out := make([]Snapshot, 0, len(snaps))
	for _, s := range snaps {
		kind := s.tag("kind")
		size, ok := sizes[s.ShortID]
		if !ok && kind != kindWAL {
			size, _ = r.restoreSize(ctx, s.ID)
		}
		out = append(out, Snapshot{ID: s.ID, ShortID: s.ShortID, Backup: name, Kind: kind, Time: s.Time, Size: size, AgeSeconds: now.Sub(s.Time).Seconds()})
	}
	slices.SortStableFunc(out, func(a, b Snapshot) int { return b.Time.Compare(a.Time) })
	return out, nil
}

// PruneResult is what prune did to one repository.
type PruneResult struct {
	Repository string   `json:"repository"`
	Backups    []string `json:"backups"`
	Forgotten  int      `json:"forgotten"`
	Error      string   `json:"error,omitempty"`
}

// Prune applies every backup's retention policy and removes the data no
// snapshot needs, repository by repository (a repository shared by
// several backups is pruned once, holding all their locks).
func (m *Manager) Prune(ctx context.Context, progress func(string)) ([]PruneResult, error) {
	c := m.Config()
	byRepo := map[string][]string{}
	var order []string
	for _, name := range c.BackupNames() {
		k := c.RepositoryKey(c.Backups[name])
		if _, ok := byRepo[k]; !ok {
			order = append(order, k)
		}
		byRepo[k] = append(byRepo[k], name)
	}
	var out []PruneResult
	var firstErr error
	for _, k := range order {
		names := byRepo[k]
		pr, err := m.pruneRepo(ctx, c, names, progress)
		if err != nil {
			pr.Error = err.Error()
			if firstErr == nil {
				firstErr = err
			}
		}
		out = append(out, pr)
		m.record(ctx, Event{Action: "backup.prune", Target: pr.Repository}, err)
	}
	return out, firstErr
}

func (m *Manager) pruneRepo(ctx context.Context, c *config.Config, names []string, progress func(string)) (PruneResult, error) {
	pr := PruneResult{Backups: names}
	for _, n := range names {
		l, err := m.lock(n, "prune")
		if err != nil {
			return pr, err
		}
		defer l.Unlock()
	}
	b := c.Backups[names[0]]
	r, err := m.repoFor(ctx, c, b)
	if err != nil {
		return pr, err
	}
	pr.Repository = r.display()
	if err := r.open(ctx, false); err != nil {
		return pr, err
	}
	for _, n := range names {
		f, err := m.applyRetention(ctx, r, n, c.Backups[n])
		pr.Forgotten += f
		if err != nil {
			return pr, err
		}
	}
	say(progress, "pruning %s", pr.Repository)
	return pr, r.prune(ctx)
}
