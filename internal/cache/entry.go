package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// Artifact is one file a job produced, kept as a blob, or a symlink it
// produced, kept as a link.
type Artifact struct {
	// Path is slash-separated, relative to the workspace.
	Path string      `json:"path"`
	Mode fs.FileMode `json:"mode"`
	Blob string      `json:"blob,omitempty"`
	Size int64       `json:"size"`
	// Link is a symlink's target, relative to its directory and never
	// leading out of the workspace; Blob is empty then.
	Link string `json:"link,omitempty"`
}

// entry is a cache entry: what a job instance produced for one key.
type entry struct {
	Key       string       `json:"key"`
	Job       string       `json:"job"`
	Created   time.Time    `json:"created"`
	LastUsed  time.Time    `json:"last_used"`
	Size      int64        `json:"size"`
	Manifest  *KeyManifest `json:"manifest"`
	Artifacts []Artifact   `json:"artifacts"`
	LogBlob   string       `json:"log_blob,omitempty"`
	LogSize   int64        `json:"log_size,omitempty"`
}

// EntryInfo describes a cache entry for `tug cache ls`.
type EntryInfo struct {
	Key      string    `json:"key"`
	Job      string    `json:"job"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
	// Size counts the entry's artifacts and log, shared blobs included.
	Size      int64 `json:"size"`
	Artifacts int   `json:"artifacts"`
}

// blobs lists the digests an entry references, with their sizes.
func (e *entry) blobs(yield func(digest string, size int64)) {
	for _, a := range e.Artifacts {
		if a.Link == "" {
			yield(a.Blob, a.Size)
		}
	}
	if e.LogBlob != "" {
		yield(e.LogBlob, e.LogSize)
	}
}

func (c *Cache) entryPath(key string) string {
	return filepath.Join(c.root, "entries", key+".json")
}

// readEntry loads the entry of key; a missing one wraps fs.ErrNotExist.
// Last use is the later of the stored time and the file's mtime, which a
// hit bumps cheaply.
func (c *Cache) readEntry(key string) (*entry, error) {
	return c.readEntryOf(key, true)
}

// entrySkippingManifest decodes an entry but leaves its manifest (the
// bulk of it: a hash per input file) undecoded.
type entrySkippingManifest struct {
	entry
	Manifest json.RawMessage `json:"manifest"`
}

// readEntryOf is readEntry; without withManifest the entry's Manifest is
// only checked to be there, not decoded (a cache hit does not need it).
func (c *Cache) readEntryOf(key string, withManifest bool) (*entry, error) {
	p := c.entryPath(key)
	var e entry
	if withManifest {
		if err := readJSON(p, &e); err != nil {
			return nil, err
		}
	} else {
		var x entrySkippingManifest
		if err := readJSON(p, &x); err != nil {
			return nil, err
		}
		e = x.entry
		if len(x.Manifest) > 0 && string(x.Manifest) != "null" {
			e.Manifest = &KeyManifest{} // present; not needed
		}
	}
	if e.Key != key || e.Manifest == nil {
		return nil, errors.Join(ErrCorrupt, errors.New(p+": entry does not match its key"))
	}
	for _, a := range e.Artifacts {
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("%s: bad artifact record: %w", p, err)
		}
	}
	if e.LogBlob != "" && !isDigest(e.LogBlob) {
		return nil, errors.Join(ErrCorrupt, errors.New(p+": bad log record"))
	}
	if fi, err := os.Stat(p); err == nil && fi.ModTime().After(e.LastUsed) {
		e.LastUsed = fi.ModTime()
	}
	return &e, nil
}

// touch records a use of an entry by its file's mtime: no rewrite, no
// fsync on the hot path of a hit.
func (c *Cache) touch(key string) {
	now := c.opts.Now()
	if err := os.Chtimes(c.entryPath(key), now, now); err != nil {
		c.log.Debug("touch cache entry", "key", shortKey(key), "err", err)
	}
}

// allEntries loads every entry. Damaged entry files are returned as bad
// keys so GC can remove them.
func (c *Cache) allEntries() (good []*entry, bad []string, err error) {
	dir := filepath.Join(c.root, "entries")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for _, d := range ents {
		name := d.Name()
		key, ok := strings.CutSuffix(name, ".json")
		if kit.IsTemp(name) || !ok || !isDigest(key) {
			continue
		}
		e, err := c.readEntry(key)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			c.log.Warn("damaged cache entry", "key", shortKey(key), "err", err)
			bad = append(bad, key)
			continue
		}
		good = append(good, e)
	}
	return good, bad, nil
}

func (e *entry) info() EntryInfo {
	return EntryInfo{Key: e.Key, Job: e.Job, Created: e.Created, LastUsed: e.LastUsed, Size: e.Size, Artifacts: len(e.Artifacts)}
}

func (c *Cache) jobIndexPath(job string) string {
	return filepath.Join(c.root, "jobs", safeName(job)+".json")
}

// jobIndex is the last saved manifest of a job instance, for explaining
// the next miss.
type jobIndex struct {
	Job      string       `json:"job"`
	Key      string       `json:"key"`
	Saved    time.Time    `json:"saved"`
	Manifest *KeyManifest `json:"manifest"`
}

// lastManifest returns the last saved manifest of a job, nil if none.
func (c *Cache) lastManifest(job string) *KeyManifest {
	var ix jobIndex
	if err := readJSON(c.jobIndexPath(job), &ix); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("read job cache index", "job", job, "err", err)
		}
		return nil
	}
	if ix.Job != job {
		return nil
	}
	return ix.Manifest
}

// upstream is the key need had in the manifest, "" if unknown.
func (m *KeyManifest) upstream(need string) string {
	if m == nil {
		return ""
	}
	return m.Upstream[need]
}
