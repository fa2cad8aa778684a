package cache

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// PruneOptions says what Prune removes besides unreferenced blobs and
// leftover temporary files.
type PruneOptions struct {
	// All removes every cache entry, every run's artifacts and the
	// per-job history used to explain misses.
	All bool
	// OlderThan removes entries not used, and run artifacts not written,
	// within this long.
	OlderThan time.Duration
}

// PruneResult says what a Prune (or eviction pass) removed.
type PruneResult struct {
	// Entries are the removed cache entries as job@key.
	Entries []string `json:"entries,omitempty"`
	// Runs are the runs whose artifacts were removed.
	Runs []string `json:"runs,omitempty"`
	// Blobs counts deleted blob files; Freed their bytes.
	Blobs int   `json:"blobs"`
	Freed int64 `json:"freed"`
}

// sweepPlan is one garbage collection pass.
type sweepPlan struct {
	all       bool
	olderThan time.Duration
	// enforce evicts least recently used entries (never keep), then the
	// artifacts of runs older than the newest KeepRuns, while referenced
	// blobs exceed MaxSize.
	enforce bool
	keep    string
}

// runSet is the artifacts of one run, for eviction.
type runSet struct {
	id      string // directory name
	created time.Time
	refs    []Artifact
}

// List returns every cache entry, most recently used first.
func (c *Cache) List(ctx context.Context) ([]EntryInfo, error) {
	unlock, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	entries, _, err := c.allEntries()
	if err != nil {
		return nil, err
	}
	out := make([]EntryInfo, len(entries))
	for i, e := range entries {
		out[i] = e.info()
	}
	slices.SortFunc(out, func(a, b EntryInfo) int {
		return cmp.Or(b.LastUsed.Compare(a.LastUsed), strings.Compare(a.Job, b.Job), strings.Compare(a.Key, b.Key))
	})
	return out, nil
}

// Prune removes what opts selects, then every blob nothing references
// and any temporary file a crash left behind.
func (c *Cache) Prune(ctx context.Context, opts PruneOptions) (PruneResult, error) {
	if opts.OlderThan < 0 {
		return PruneResult{}, errors.New("prune: negative age")
	}
	c.gcMu.Lock()
	defer c.gcMu.Unlock()
	unlock, err := c.exclusive(ctx)
	if err != nil {
		return PruneResult{}, err
	}
	defer unlock()
	return c.sweep(ctx, sweepPlan{all: opts.All, olderThan: opts.OlderThan})
}

// shrink accounts for added bytes and, once the store may be over
// MaxSize, runs an eviction pass. It returns the evicted entries.
func (c *Cache) shrink(ctx context.Context, keep string, added int64) ([]string, error) {
	c.mu.Lock()
	if c.stored >= 0 {
		c.stored += added
	}
	stored := c.stored
	c.mu.Unlock()
	if stored < 0 {
		n, err := c.measure(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.stored < 0 {
			c.stored = n
		}
		stored = c.stored
		c.mu.Unlock()
	}
	if stored <= c.opts.MaxSize {
		return nil, nil
	}
	c.gcMu.Lock()
	defer c.gcMu.Unlock()
	unlock, err := c.exclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res, err := c.sweep(ctx, sweepPlan{enforce: true, keep: keep})
	evicted := res.Entries
	for _, r := range res.Runs {
		evicted = append(evicted, "artifacts of run "+r)
	}
	if len(evicted) > 0 {
		c.log.Info("cache evicted entries to stay under max_size", "max_size", c.opts.MaxSize, "evicted", evicted, "freed", res.Freed)
	}
	return evicted, err
}

// measure sums the sizes of stored blobs.
func (c *Cache) measure(ctx context.Context) (int64, error) {
	unlock, err := c.shared(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	var total int64
	err = filepath.WalkDir(c.blobs.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || kit.IsTemp(d.Name()) {
			return err
		}
		if fi, err := d.Info(); err == nil {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}

// sweep is one garbage collection pass; the caller holds the exclusive
// lock.
func (c *Cache) sweep(ctx context.Context, plan sweepPlan) (PruneResult, error) {
	var res PruneResult
	now := c.opts.Now()
	entries, bad, err := c.allEntries()
	if err != nil {
		return res, err
	}
	for _, k := range bad {
		os.Remove(c.entryPath(k))
	}
	runs, err := c.allRuns()
	if err != nil {
		return res, err
	}

	old := func(t time.Time) bool { return plan.olderThan > 0 && now.Sub(t) > plan.olderThan }
	keptEntries := entries[:0]
	for _, e := range entries {
		if plan.all || old(e.LastUsed) {
			if err := os.Remove(c.entryPath(e.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
			res.Entries = append(res.Entries, entryLabel(e.Job, e.Key))
			continue
		}
		keptEntries = append(keptEntries, e)
	}
	entries = keptEntries
	keptRuns := runs[:0]
	for _, r := range runs {
		if plan.all || old(r.created) {
			if err := c.removeRun(r.id); err != nil {
				return res, err
			}
			res.Runs = append(res.Runs, r.id)
			continue
		}
		keptRuns = append(keptRuns, r)
	}
	runs = keptRuns
	if plan.all {
		if err := clearDir(filepath.Join(c.root, "jobs")); err != nil {
			return res, err
		}
		if err := os.Remove(filepath.Join(c.root, statCacheName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, err
		}
	}

	// Reference counts over what is left.
	refs := map[string]int{}
	sizes := map[string]int64{}
	var total int64
	ref := func(d string, size int64) {
		if refs[d] == 0 {
			total += size
			sizes[d] = size
		}
		refs[d]++
	}
	unref := func(d string, _ int64) {
		if refs[d]--; refs[d] == 0 {
			total -= sizes[d]
			delete(refs, d)
		}
	}
	for _, e := range entries {
		e.blobs(ref)
	}
	for _, r := range runs {
		for _, a := range r.refs {
			if a.Link == "" {
				ref(a.Blob, a.Size)
			}
		}
	}

	if plan.enforce && total > c.opts.MaxSize {
		slices.SortFunc(entries, func(a, b *entry) int {
			return cmp.Or(a.LastUsed.Compare(b.LastUsed), a.Created.Compare(b.Created), strings.Compare(a.Key, b.Key))
		})
		for _, e := range entries {
			if total <= c.opts.MaxSize {
				break
			}
			if e.Key == plan.keep {
				continue
			}
			if err := os.Remove(c.entryPath(e.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
			e.blobs(unref)
			res.Entries = append(res.Entries, entryLabel(e.Job, e.Key))
		}
		if total > c.opts.MaxSize && len(runs) > c.opts.KeepRuns {
			slices.SortFunc(runs, func(a, b *runSet) int { return cmp.Or(a.created.Compare(b.created), strings.Compare(a.id, b.id)) })
			for _, r := range runs[:len(runs)-c.opts.KeepRuns] {
				if total <= c.opts.MaxSize {
					break
				}
				if err := c.removeRun(r.id); err != nil {
					return res, err
				}
				for _, a := range r.refs {
					if a.Link == "" {
						unref(a.Blob, a.Size)
					}
				}
				res.Runs = append(res.Runs, r.id)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}

	stored, err := c.deleteUnreferenced(refs, &res)
	if err != nil {
		return res, err
	}
	c.mu.Lock()
	c.stored = stored
	c.mu.Unlock()
	for _, d := range []string{"entries", "jobs"} {
		removeTemps(filepath.Join(c.root, d))
	}
	// The stat cache is written without the cache lock: leave temp files
	// young enough to be a write in progress.
	removeOldTemps(c.root, c.opts.Now().Add(-time.Hour))
	return res, nil
}

// deleteUnreferenced removes blobs (and temp files) outside refs and
// returns the bytes of the blobs kept.
func (c *Cache) deleteUnreferenced(refs map[string]int, res *PruneResult) (int64, error) {
	var kept int64
	err := filepath.WalkDir(c.blobs.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		name := d.Name()
		if refs[name] > 0 && !kit.IsTemp(name) {
			kept += fi.Size()
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if !kit.IsTemp(name) {
			res.Blobs++
			res.Freed += fi.Size()
		}
		return nil
	})
	return kept, err
}

// allRuns loads the artifact manifests of every run. A damaged manifest
// is logged and left alone (its blobs may then be collected).
func (c *Cache) allRuns() ([]*runSet, error) {
	base := filepath.Join(c.stateDir, "artifacts")
	dirs, err := os.ReadDir(base)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*runSet
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(base, d.Name())
		removeTemps(dir)
		files, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		r := &runSet{id: d.Name()}
		for _, f := range files {
			if kit.IsTemp(f.Name()) || !strings.HasSuffix(f.Name(), ".json") {
				continue
			}
			var m runManifest
			if err := readJSON(filepath.Join(dir, f.Name()), &m); err != nil {
				c.log.Warn("damaged run artifact manifest", "file", f.Name(), "run", d.Name(), "err", err)
				continue
			}
			if m.Run != "" && safeName(m.Run) == d.Name() {
				r.id = m.Run
			}
			if m.Created.After(r.created) {
				r.created = m.Created
			}
			r.refs = append(r.refs, m.Artifacts...)
		}
		hits, err := c.readHits(dir)
		if err != nil {
			return nil, err
		}
		for _, m := range hits {
			if m.Run != "" && safeName(m.Run) == d.Name() {
				r.id = m.Run
			}
			if m.Created.After(r.created) {
				r.created = m.Created
			}
			r.refs = append(r.refs, m.Artifacts...)
		}
		if r.created.IsZero() {
			if fi, err := d.Info(); err == nil {
				r.created = fi.ModTime()
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Cache) removeRun(id string) error {
	return os.RemoveAll(c.runDir(id))
}

// removeTemps deletes temporary files a crash left in dir.
func removeTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if kit.IsTemp(e.Name()) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// removeOldTemps deletes temporary files in dir last written before t.
func removeOldTemps(dir string, t time.Time) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !kit.IsTemp(e.Name()) {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().Before(t) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// clearDir removes every file in dir.
func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
