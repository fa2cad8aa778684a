// Package cache is tug's content-addressed job cache and the store of each
// run's artifacts.
//
// A job's cache key is the SHA-256 of a versioned description of everything
// that decides its result: script, image, declared env, matrix values,
// secret hashes, the content of its input files and its upstream jobs' keys.
// Files live once, as blobs named by their own SHA-256; cache entries and
// run artifact manifests are small JSON files pointing at blobs.
//
// Layout under the state directory:
//
//	cache/blobs/sha256/ab/abcdef...   file contents (and stored logs)
//	cache/entries/<key>.json          one cache entry per key
//	cache/jobs/<job>.json             the last saved key manifest of a job
//	cache/lock                        flock: shared for use, exclusive for GC
//	artifacts/<run>/<job>.json        the artifacts a job of a run produced
//
// Every state file is written to a temporary file, fsynced and renamed, so
// a crash leaves either the old or the new file; leftover temporary files
// are ignored and removed by the next garbage collection.
package cache
