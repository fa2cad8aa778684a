package ociregistry

import (
	"cmp"
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

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tugdev/tug/internal/kit"
)

// GCStats says what one garbage collection removed.
type GCStats struct {
	Tags      int   `json:"tags"`
	Manifests int   `json:"manifests"`
	Blobs     int   `json:"blobs"`
	Uploads   int   `json:"uploads"`
	Bytes     int64 `json:"bytes"`
}

// Run collects garbage once at start and then after pushes (GCDelay after
// the first of a burst), until ctx ends. It returns when ctx is done.
func (r *Registry) Run(ctx context.Context) {
	r.collect(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.pushed:
		}
		t := time.NewTimer(r.o.GCDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		r.collect(ctx)
	}
}

func (r *Registry) collect(ctx context.Context) {
	st, err := r.GC(ctx)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Warn("registry garbage collection", "err", err)
	case err == nil && st != (GCStats{}):
		r.log.Info("registry garbage collected", "tags", st.Tags, "manifests", st.Manifests, "blobs", st.Blobs, "uploads", st.Uploads, "bytes", st.Bytes)
	}
}

// GC deletes what no kept image needs. Per repository it keeps the Keep
// newest tags; it keeps the manifests those tags name, the pinned ones,
// those an index it keeps lists, and any stored within the grace period;
// then every blob a kept manifest refers to. Blobs and uploads younger
// than the grace period stay too: a push in progress writes them before
// its manifest. Manifest pushes wait while it runs.
func (r *Registry) GC(ctx context.Context) (GCStats, error) {
	var st GCStats
	pinned := map[string]bool{}
	if r.o.Pinned != nil {
		refs, err := r.o.Pinned(ctx)
		if err != nil {
			return st, fmt.Errorf("images releases pin: %w", err)
		}
		for _, ref := range refs {
			if i := strings.LastIndex(ref, "@"); i >= 0 {
				ref = ref[i+1:]
			}
			pinned[ref] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cutoff := r.o.Now().Add(-r.o.Grace)
	repos, err := r.repositories()
	if err != nil {
		return st, err
	}
	marked := map[v1.Hash]bool{}
	for _, name := range repos {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := r.collectRepo(name, pinned, cutoff, marked, &st); err != nil {
			return st, fmt.Errorf("repository %s: %w", name, err)
		}
	}
	if err := r.sweepBlobs(marked, cutoff, &st); err != nil {
		return st, err
	}
	ents, err := os.ReadDir(r.uploads)
	if err != nil {
		return st, err
	}
	for _, e := range ents {
		if old(e, cutoff) && os.Remove(filepath.Join(r.uploads, e.Name())) == nil {
			st.Uploads++
		}
	}
	return st, nil
}

// collectRepo drops a repository's old tags and unkept manifests, and
// marks the blobs of the manifests it keeps.
func (r *Registry) collectRepo(name string, pinned map[string]bool, cutoff time.Time, marked map[v1.Hash]bool, st *GCStats) error {
	tags, err := r.tagsOf(name)
	if err != nil {
		return err
	}
	slices.SortFunc(tags, func(a, b tagInfo) int {
		return cmp.Or(cmp.Compare(b.mtime, a.mtime), strings.Compare(a.name, b.name))
	})
	keep := map[v1.Hash]bool{}
	for i, t := range tags {
		if i < r.o.Keep {
			keep[t.digest] = true
			continue
		}
		if os.Remove(r.tagPath(name, t.name)) == nil {
			st.Tags++
		}
	}
	dir := filepath.Join(r.repoDir(name), "_manifests")
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	links := map[v1.Hash]fs.DirEntry{}
	for _, e := range ents {
		if h, err := v1.NewHash("sha256:" + e.Name()); err == nil {
			links[h] = e
			if pinned[h.String()] || !old(e, cutoff) {
				keep[h] = true
			}
		}
	}
	// An index keeps the manifests it lists, at any depth.
	queue := make([]v1.Hash, 0, len(keep))
	for h := range keep {
		queue = append(queue, h)
	}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		m, err := r.readRefs(h)
		if err != nil {
			continue // a link whose blob is gone keeps nothing
		}
		marked[h] = true
		for _, b := range m.blobs() {
			marked[b] = true
		}
		for _, d := range m.Manifests {
			if !keep[d.Digest] {
				keep[d.Digest] = true
				queue = append(queue, d.Digest)
			}
		}
	}
	for h := range links {
		if !keep[h] && os.Remove(filepath.Join(dir, h.Hex)) == nil {
			st.Manifests++
		}
	}
	if len(keep) == 0 {
		// No tag and no manifest left: the repository goes, and the
		// directories above it that hold nothing else (a repository
		// "team" and one "team/shop" share a directory).
		os.RemoveAll(filepath.Join(r.repoDir(name), "_manifests"))
		os.RemoveAll(filepath.Join(r.repoDir(name), "_tags"))
		for d := r.repoDir(name); d != r.repos && strings.HasPrefix(d, r.repos); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break
			}
		}
	}
	return nil
}

// readRefs reads a stored manifest's references.
func (r *Registry) readRefs(h v1.Hash) (*manifestRefs, error) {
	b, err := os.ReadFile(r.blobs.path(h))
	if err != nil {
		return nil, err
	}
	var m manifestRefs
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// sweepBlobs removes blobs nothing marked and older than cutoff, and temp
// files a crash left behind.
func (r *Registry) sweepBlobs(marked map[v1.Hash]bool, cutoff time.Time, st *GCStats) error {
	algs, err := os.ReadDir(r.blobs.dir)
	if err != nil {
		return err
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		dir := filepath.Join(r.blobs.dir, a.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			h, herr := v1.NewHash(a.Name() + ":" + e.Name())
			if (herr == nil && marked[h]) || !old(e, cutoff) {
				continue
			}
			if herr != nil && !kit.IsTemp(e.Name()) {
				continue // not ours to judge
			}
			fi, _ := e.Info()
			if os.Remove(filepath.Join(dir, e.Name())) == nil && herr == nil {
				st.Blobs++
				if fi != nil {
					st.Bytes += fi.Size()
				}
			}
		}
	}
	return nil
}

// old says whether a directory entry was last changed before cutoff.
func old(e fs.DirEntry, cutoff time.Time) bool {
	fi, err := e.Info()
	return err == nil && fi.ModTime().Before(cutoff)
}
