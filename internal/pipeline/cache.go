package pipeline

import (
	"context"
	"errors"
)

// Cache skips jobs whose inputs did not change and hands artifacts on.
//
// Contract: the engine calls Lookup before running a cacheable job (one
// with inputs, no deploy, not manual) after all its needs finished, passing
// their keys; on a hit it restores the job's artifacts into dir and returns
// the stored log, and the engine reports the job as cached without running
// it. After a job succeeds the engine calls Save (cacheable or not: Save
// also records artifacts with the run). Calls for different jobs may run
// concurrently. ctx cancellation aborts the call.
type Cache interface {
	Lookup(ctx context.Context, req *CacheRequest) (*CacheResult, error)
	Save(ctx context.Context, req *CacheRequest, log []byte) (*CacheInfo, error)
	// Restore puts the artifacts of an upstream job of this run into dir.
	Restore(ctx context.Context, runID, job, dir string) error
}

// CacheRequest identifies one job instance for the cache.
type CacheRequest struct {
	RunID string
	Job   *Job
	Dir   string
	// Upstream maps each needed job instance to its cache key.
	Upstream map[string]string
	// SecretHashes maps secret names to SHA-256 hashes of their values.
	SecretHashes map[string]string
	// ImageID is the resolved image ID for container jobs.
	ImageID   string
	Cacheable bool
	NoCache   bool
}

// CacheResult is a Lookup's answer.
type CacheResult struct {
	Info CacheInfo
	// Log is the stored (masked) log of the cached run, on a hit.
	Log []byte
}

// ErrOutsideWorkspace means a job's files lead out of its workspace: an
// artifact that is (or passes through) a symbolic link to a place outside
// it. The cache refuses to follow such links, so a job cannot make tug copy
// host files into the run; the engine fails the job with the error.
var ErrOutsideWorkspace = errors.New("outside the workspace")
