package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/pipeline"
)

// Save keeps what a successful job produced: its artifacts (and report
// files) as this run's, and, for a cacheable job, a cache entry under the
// key its inputs had when Lookup ran. It then shrinks the cache to
// MaxSize, reporting what it evicted in CacheInfo.Evicted: entries as
// "job@<12 hex digits of the key>", and, only when entries alone do not
// free enough, "artifacts of run <id>" for runs older than the newest
// KeepRuns.
//
// A job that is not cacheable gets as key a digest of its artifacts, so
// jobs that need it still change key when its output changes.
func (c *Cache) Save(ctx context.Context, req *pipeline.CacheRequest, log []byte) (*pipeline.CacheInfo, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	j := req.Job
	c.mu.Lock()
	k, ok := c.pending[req]
	delete(c.pending, req)
	c.mu.Unlock()
	cacheable := notCacheable(req) == ""
	if cacheable && !ok {
		key, man, err := c.Key(ctx, req)
		if err != nil {
			return nil, err
		}
		k = keyed{key: key, manifest: man}
	}

	if !cacheable && len(outputPatterns(j)) == 0 {
		// Nothing to keep: no lock, no files.
		return &pipeline.CacheInfo{Key: artifactsDigest(nil)}, nil
	}
	unlock, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	arts, added, err := c.collect(ctx, req)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("job %s: artifacts: %w", j.Name, err)
	}
	key := k.key
	if !cacheable {
		key = artifactsDigest(arts)
	}
	if err := c.recordRun(req.RunID, j.Name, key, arts, false); err != nil {
		unlock()
		return nil, fmt.Errorf("job %s: record artifacts: %w", j.Name, err)
	}
	if cacheable {
		n, err := c.writeEntry(j.Name, k, arts, log)
		added += n
		if err != nil {
			unlock()
			return nil, fmt.Errorf("job %s: save cache entry: %w", j.Name, err)
		}
	}
	unlock()

	info := &pipeline.CacheInfo{Key: key}
	if added > 0 {
		info.Evicted, err = c.shrink(ctx, key, added)
		if err != nil {
			c.log.Warn("cache eviction failed", "err", err)
		}
	}
	return info, nil
}

// collect stores the files the job's artifacts and reports patterns match
// as blobs, and the symlinks they match as links. added counts the bytes
// of blobs that were new. A link (or a path through one) leading out of
// the workspace fails the whole collection.
func (c *Cache) collect(ctx context.Context, req *pipeline.CacheRequest) (arts []Artifact, added int64, err error) {
	cfg := req.Job.Config
	if cfg == nil {
		return nil, 0, nil
	}
	patterns := outputPatterns(req.Job)
	if len(patterns) == 0 {
		return nil, 0, nil
	}
	w := newWorkspaceFS(req.Dir, c.stateDir)
	for _, p := range patterns {
		if err := w.checkPrefix(p); err != nil {
			return nil, 0, err
		}
	}
	files, err := expand(w, req.Dir, patterns)
	if err != nil {
		return nil, 0, err
	}
	if len(files) == 0 && len(cfg.Artifacts) > 0 {
		c.log.Warn("artifacts matched no files", "job", req.Job.Name, "patterns", cfg.Artifacts)
	}
	if len(files) == 0 {
		return nil, 0, nil
	}
	root, err := os.OpenRoot(req.Dir)
	if err != nil {
		return nil, 0, err
	}
	defer root.Close()
	// Links first: a refused one fails the save before any blob is written.
	for _, f := range files {
		if f.Kind != kindSymlink {
			continue
		}
		target, err := linkArtifact(root, req.Dir, f.Path)
		if err != nil {
			return nil, 0, err
		}
		arts = append(arts, Artifact{Path: f.Path, Mode: linkMode, Link: target})
	}
	for _, f := range files {
		if f.Kind == kindSymlink {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		file, fi, err := openInside(root, f.Path)
		if err != nil {
			return nil, 0, err
		}
		digest, size, isNew, err := c.blobs.putOpen(file)
		file.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("store %s: %w", f.Path, err)
		}
		if isNew {
			added += size
		}
		arts = append(arts, Artifact{Path: f.Path, Mode: fi.Mode().Perm(), Blob: digest, Size: size})
	}
	slices.SortFunc(arts, func(a, b Artifact) int { return strings.Compare(a.Path, b.Path) })
	return arts, added, nil
}

// writeEntry stores the log and the entry, then points the job's index
// at its manifest. It returns the bytes of new blobs.
func (c *Cache) writeEntry(job string, k keyed, arts []Artifact, log []byte) (int64, error) {
	var added int64
	logBlob, isNew, err := c.blobs.putBytes(log)
	if err != nil {
		return 0, err
	}
	if isNew {
		added += int64(len(log))
	}
	now := c.opts.Now()
	e := &entry{
		Key: k.key, Job: job, Created: now, LastUsed: now,
		Manifest: k.manifest, Artifacts: arts, LogBlob: logBlob, LogSize: int64(len(log)),
	}
	e.blobs(func(_ string, size int64) { e.Size += size })
	if err := writeJSON(c.entryPath(k.key), e); err != nil {
		return added, err
	}
	err = writeJSON(c.jobIndexPath(job), &jobIndex{Job: job, Key: k.key, Saved: now, Manifest: k.manifest})
	return added, err
}

// artifactsDigest names the output of a job the cache does not skip.
func artifactsDigest(arts []Artifact) string {
	data, _ := json.Marshal(arts)
	h := sha256.New()
	h.Write([]byte("tug-artifacts\n"))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}
