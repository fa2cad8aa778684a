package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
)

// DefaultMaxSize bounds the cache when tug.yaml sets no cache.max_size.
const DefaultMaxSize int64 = 5 << 30

// DefaultKeepRuns is how many recent runs keep their artifacts however
// full the cache is.
const DefaultKeepRuns = 20

// Options configures a Cache; zero values mean the defaults.
type Options struct {
	// MaxSize bounds the bytes of stored blobs (DefaultMaxSize if <= 0).
	MaxSize int64
	// KeepRuns is how many of the newest runs keep their artifacts when
	// the cache must shrink (DefaultKeepRuns if <= 0).
	KeepRuns int
	// Now stamps entries and uses; nil means time.Now.
	Now func() time.Time
	// Logger gets diagnostics; nil discards them.
	Logger *slog.Logger
	// FileClock replaces reading the file system's clock (a probe file in
	// the cache directory) with a wall clock: the stat cache then trusts a
	// file's cached hash only if the file was racyMargin old by it when
	// stat'ed. Tests set it; nil reads the file clock.
	FileClock func() time.Time
}

// Cache is the on-disk job cache and run artifact store of one state
// directory. Its methods are safe for concurrent use, also by several
// processes sharing the directory.
type Cache struct {
	stateDir  string
	root      string
	opts      Options
	log       *slog.Logger
	blobs     blobStore
	hash      *hasher
	stat      *statCache
	fileClock *fileClock
	// hashSem bounds file hashing across all concurrent Key calls.
	hashSem chan struct{}
	// rw orders this process's users (read lock) against GC (write lock);
	// the lock file does the same between processes.
	rw sync.RWMutex
	// gcMu serialises eviction passes.
	gcMu sync.Mutex

	mu sync.Mutex
	// pending holds the key Lookup computed for a request, so Save stores
	// the result under the inputs the job ran with.
	pending map[*pipeline.CacheRequest]keyed
	// stored estimates the bytes of all blobs (-1: not yet measured); only
	// when it passes MaxSize does a full eviction pass run.
	stored int64
}

type keyed struct {
	key      string
	manifest *KeyManifest
	at       time.Time
}

// maxPending bounds keys kept for jobs that never reached Save (they
// failed); beyond it, ones older than pendingTTL are dropped.
const (
	maxPending = 1024
	pendingTTL = 24 * time.Hour
)

var _ pipeline.Cache = (*Cache)(nil)

// New opens (creating if needed) the cache under stateDir.
func New(stateDir string, opts Options) (*Cache, error) {
	if stateDir == "" {
		return nil, errors.New("cache: no state directory")
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.KeepRuns <= 0 {
		opts.KeepRuns = DefaultKeepRuns
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	root := filepath.Join(stateDir, "cache")
	for _, d := range []string{"blobs/sha256", "entries", "jobs"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
	}
	hash := newHasher()
	return &Cache{
		stateDir:  stateDir,
		root:      root,
		opts:      opts,
		log:       log,
		blobs:     blobStore{dir: filepath.Join(root, "blobs", "sha256"), hash: hash},
		hash:      hash,
		stat:      newStatCache(filepath.Join(root, statCacheName)),
		fileClock: newFileClock(filepath.Join(root, fileClockName), opts.FileClock),
		hashSem:   make(chan struct{}, 2*runtime.GOMAXPROCS(0)+2),
		pending:   map[*pipeline.CacheRequest]keyed{},
		stored:    -1,
	}, nil
}

// Close writes back what the cache learned about input files (the stat
// cache), so the next run can skip reading unchanged ones. The Cache stays
// usable; call Close again to write what it learns later.
func (c *Cache) Close() error {
	if err := c.stat.flush(); err != nil {
		return fmt.Errorf("cache: write stat cache: %w", err)
	}
	return nil
}

// shared takes the cache for reading or adding (not deleting) data.
func (c *Cache) shared(ctx context.Context) (func(), error) {
	c.rw.RLock()
	l, err := kit.LockFile(ctx, filepath.Join(c.root, "lock"), false)
	if err != nil {
		c.rw.RUnlock()
		return nil, err
	}
	return func() { l.Unlock(); c.rw.RUnlock() }, nil
}

// exclusive takes the cache for deleting data.
func (c *Cache) exclusive(ctx context.Context) (func(), error) {
	c.rw.Lock()
	l, err := kit.LockFile(ctx, filepath.Join(c.root, "lock"), true)
	if err != nil {
		c.rw.Unlock()
		return nil, err
	}
	return func() { l.Unlock(); c.rw.Unlock() }, nil
}

// checkRequest rejects requests the cache cannot place.
func checkRequest(req *pipeline.CacheRequest) error {
	switch {
	case req == nil || req.Job == nil:
		return errors.New("cache: request without a job")
	case req.Job.Name == "":
		return errors.New("cache: job without a name")
	case req.Dir == "":
		return fmt.Errorf("cache: job %s: no workspace directory", req.Job.Name)
	}
	return nil
}

// notCacheable says why a job may not be skipped, "" if it may.
func notCacheable(req *pipeline.CacheRequest) string {
	if req.Cacheable {
		return ""
	}
	if why := pipeline.NotCacheable(req.Job); why != "" {
		return "not cacheable: " + why
	}
	return "not cacheable"
}

// Lookup answers whether a job can be skipped. On a hit it restores the
// job's artifacts into req.Dir, records them as this run's, and returns the
// stored log; on a miss it says why.
func (c *Cache) Lookup(ctx context.Context, req *pipeline.CacheRequest) (*pipeline.CacheResult, error) {
	return c.lookup(ctx, req, true)
}

// Explain says what Lookup would answer, without restoring or recording
// anything: a dry run. An upstream key given as "" is one not known before
// the need runs (a job the cache never skips gets a digest of what it
// produced); Explain takes it to be what the job's last cached run saw.
func (c *Cache) Explain(ctx context.Context, req *pipeline.CacheRequest) (*pipeline.CacheInfo, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	var unknown []string
	for n, k := range req.Upstream {
		if k == "" {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		r := *req
		r.Upstream = copyMap(req.Upstream)
		prev := c.lastManifest(req.Job.Name)
		for _, n := range unknown {
			if k := prev.upstream(n); k != "" {
				r.Upstream[n] = k
			}
		}
		req = &r
	}
	res, err := c.lookup(ctx, req, false)
	if err != nil {
		return nil, err
	}
	return &res.Info, nil
}

func (c *Cache) lookup(ctx context.Context, req *pipeline.CacheRequest, use bool) (*pipeline.CacheResult, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	if why := notCacheable(req); why != "" {
		return &pipeline.CacheResult{Info: pipeline.CacheInfo{Miss: why}}, nil
	}
	key, man, err := c.Key(ctx, req)
	if err != nil {
		return nil, err
	}
	if use {
		now := c.opts.Now()
		c.mu.Lock()
		if len(c.pending) >= maxPending {
			for r, k := range c.pending {
				if now.Sub(k.at) > pendingTTL {
					delete(c.pending, r)
				}
			}
		}
		c.pending[req] = keyed{key, man, now}
		c.mu.Unlock()
	}
	if req.NoCache {
		return &pipeline.CacheResult{Info: pipeline.CacheInfo{Key: key, Miss: "cache disabled (--no-cache)"}}, nil
	}
	unlock, err := c.shared(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, err := c.readEntryOf(key, false)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &pipeline.CacheResult{Info: c.explainMiss(req.Job.Name, key, man)}, nil
	case err != nil:
		c.log.Warn("unreadable cache entry; running the job", "job", req.Job.Name, "key", shortKey(key), "err", err)
		return &pipeline.CacheResult{Info: pipeline.CacheInfo{Key: key, Miss: "cache entry unreadable"}}, nil
	}
	if !use {
		return &pipeline.CacheResult{Info: pipeline.CacheInfo{Key: key, Hit: true}}, nil
	}
	var log []byte
	if e.LogBlob != "" {
		log, err = c.blobs.read(e.LogBlob)
	}
	if err == nil {
		err = c.restoreFiles(ctx, e.Artifacts, req.Dir)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Warn("cache entry cannot be restored; running the job", "job", req.Job.Name, "key", shortKey(key), "err", err)
		return &pipeline.CacheResult{Info: pipeline.CacheInfo{Key: key, Miss: "cached artifacts not restorable: " + err.Error()}}, nil
	}
	if err := c.recordRun(req.RunID, req.Job.Name, key, e.Artifacts, true); err != nil {
		return nil, fmt.Errorf("record artifacts of %s: %w", req.Job.Name, err)
	}
	c.touch(key)
	c.mu.Lock()
	delete(c.pending, req)
	c.mu.Unlock()
	return &pipeline.CacheResult{Info: pipeline.CacheInfo{Key: key, Hit: true}, Log: log}, nil
}

// explainMiss compares a missing key's manifest with the job's last saved
// one.
func (c *Cache) explainMiss(job, key string, man *KeyManifest) pipeline.CacheInfo {
	info := pipeline.CacheInfo{Key: key}
	prev := c.lastManifest(job)
	if prev == nil {
		info.Miss = "no previous run"
		return info
	}
	info.Changes = diffManifests(prev, man)
	switch n := len(info.Changes); n {
	case 0:
		info.Miss = "entry no longer cached (evicted or pruned)"
	case 1:
		info.Miss = info.Changes[0]
	default:
		info.Miss = fmt.Sprintf("%s (+%d more)", info.Changes[0], n-1)
	}
	return info
}
