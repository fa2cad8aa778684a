package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// runManifest lists the artifacts one job of one run produced (or got
// back from the cache).
type runManifest struct {
	Run       string     `json:"run"`
	Job       string     `json:"job"`
	Key       string     `json:"key,omitempty"`
	Created   time.Time  `json:"created"`
	Artifacts []Artifact `json:"artifacts"`
}

// ArtifactInfo is one artifact of one job of a run.
type ArtifactInfo struct {
	Job string `json:"job"`
	Artifact
}

func (c *Cache) runDir(runID string) string {
	return filepath.Join(c.stateDir, "artifacts", safeName(runID))
}

func (c *Cache) runManifestPath(runID, job string) string {
	return filepath.Join(c.runDir(runID), safeName(job)+".json")
}

// hitsFile is the per-run file cache hits are recorded in, one JSON
// runManifest per line.
const hitsFile = "cached.jsonl"

// recordRun stores the artifacts of a job of a run. Jobs without
// artifacts leave no file.
//
// A job that ran gets its own manifest file, fsynced. A cache hit
// (hit=true) appends a line to the run's hitsFile instead, without fsync:
// the record only repeats the entry's artifact list, and creating (and
// syncing) a file per cached job would dominate an unchanged rerun. One
// write(2) with O_APPEND puts the line whole after the others; a line an
// OS crash cut short is ignored, and readRun then treats the run's job as
// having recorded nothing.
func (c *Cache) recordRun(runID, job, key string, arts []Artifact, hit bool) error {
	if len(arts) == 0 {
		return nil
	}
	m := &runManifest{Run: runID, Job: job, Key: key, Created: c.opts.Now(), Artifacts: arts}
	if !hit {
		return writeJSONFile(c.runManifestPath(runID, job), m, true)
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	dir := c.runDir(runID)
	f, err := os.OpenFile(filepath.Join(dir, hitsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.OpenFile(filepath.Join(dir, hitsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(line)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readHits loads the run manifests of the cache hits recorded in dir,
// the last line of each job winning. Lines that do not decode (cut short
// by an OS crash) are skipped.
func (c *Cache) readHits(dir string) (map[string]*runManifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, hitsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*runManifest{}
	for line := range bytes.Lines(data) {
		var m runManifest
		if err := json.Unmarshal(line, &m); err != nil || m.Job == "" || m.check() != nil {
			c.log.Warn("damaged cache hit record, ignored", "dir", dir, "err", err)
			continue
		}
		out[m.Job] = &m
	}
	return out, nil
}

// readRun loads one job's manifest; a job that recorded nothing gives
// (nil, nil). An empty file (a record an OS crash cut short) counts as
// nothing recorded.
func (c *Cache) readRun(runID, job string) (*runManifest, error) {
	var m runManifest
	p := c.runManifestPath(runID, job)
	if fi, err := os.Stat(p); err == nil && fi.Size() == 0 {
		c.log.Warn("empty run artifact record, ignored", "run", runID, "job", job)
		return nil, nil
	}
	err := readJSON(p, &m)
	if errors.Is(err, fs.ErrNotExist) {
		hits, err := c.readHits(c.runDir(runID))
		if err != nil {
			return nil, err
		}
		return hits[job], nil
	}
	if err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (m *runManifest) check() error {
	for _, a := range m.Artifacts {
		if err := a.check(); err != nil {
			return fmt.Errorf("artifacts of %s in run %s: bad record: %w", m.Job, m.Run, err)
		}
	}
	return nil
}

// runManifests loads every job manifest of a run, in job name order.
func (c *Cache) runManifests(runID string) ([]*runManifest, error) {
	dir := c.runDir(runID)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []*runManifest
	for _, d := range ents {
		if kit.IsTemp(d.Name()) || !strings.HasSuffix(d.Name(), ".json") {
			continue
		}
		if fi, err := d.Info(); err == nil && fi.Size() == 0 {
			continue
		}
		var m runManifest
		if err := readJSON(filepath.Join(dir, d.Name()), &m); err != nil {
			return nil, err
		}
		if err := m.check(); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	hits, err := c.readHits(dir)
	if err != nil {
		return nil, err
	}
	for job, m := range hits {
		if !slices.ContainsFunc(out, func(o *runManifest) bool { return o.Job == job }) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *runManifest) int { return strings.Compare(a.Job, b.Job) })
	return out, nil
}

// Restore puts the artifacts a job of a run produced into dir, byte for
// byte with their modes. A job that produced none restores nothing.
func (c *Cache) Restore(ctx context.Context, runID, job, dir string) error {
	// Most jobs record no artifacts: find that out without the lock.
	if m, err := c.readRun(runID, job); err == nil && m == nil {
		return nil
	}
	unlock, err := c.shared(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := c.readRun(runID, job)
	if err != nil || m == nil {
		return err
	}
	return c.restoreFiles(ctx, m.Artifacts, dir)
}

// Artifacts lists what a job of a run produced; job "" lists every job of
// the run. A run or job without artifacts wraps ErrNotFound.
func (c *Cache) Artifacts(ctx context.Context, runID, job string) ([]ArtifactInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ms []*runManifest
	if job != "" {
		m, err := c.readRun(runID, job)
		if err != nil {
			return nil, err
		}
		if m == nil {
			return nil, fmt.Errorf("artifacts of job %s in run %s: %w", job, runID, ErrNotFound)
		}
		ms = []*runManifest{m}
	} else {
		var err error
		ms, err = c.runManifests(runID)
		if errors.Is(err, fs.ErrNotExist) || err == nil && len(ms) == 0 {
			return nil, fmt.Errorf("artifacts of run %s: %w", runID, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
	}
	var out []ArtifactInfo
	for _, m := range ms {
		for _, a := range m.Artifacts {
			out = append(out, ArtifactInfo{Job: m.Job, Artifact: a})
		}
	}
	return out, nil
}

// ExportArtifacts writes the artifacts of a job of a run (job "": of
// every job) under outDir at their workspace paths and returns the paths
// written. Two jobs that produced different files at one path are an
// error, found before anything is written.
func (c *Cache) ExportArtifacts(ctx context.Context, runID, job, outDir string) ([]string, error) {
	unlock, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	list, err := c.Artifacts(ctx, runID, job)
	if err != nil {
		return nil, err
	}
	byPath := map[string]ArtifactInfo{}
	arts := make([]Artifact, 0, len(list))
	for _, a := range list {
		if prev, ok := byPath[a.Path]; ok {
			if prev.Blob != a.Blob || prev.Link != a.Link {
				return nil, fmt.Errorf("jobs %s and %s both produced %s with different content; export one job at a time", prev.Job, a.Job, a.Path)
			}
			continue
		}
		byPath[a.Path] = a
		arts = append(arts, a.Artifact)
	}
	if err := c.restoreFiles(ctx, arts, outDir); err != nil {
		return nil, err
	}
	out := make([]string, len(arts))
	for i, a := range arts {
		out[i] = filepath.Join(outDir, filepath.FromSlash(a.Path))
	}
	return out, nil
}
