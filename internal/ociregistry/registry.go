// Package ociregistry is tug's own image registry: an OCI distribution
// registry served by `tug server` on loopback, so that building, pushing
// and deploying an image needs nothing else installed. The protocol of
// blobs is go-containerregistry's pkg/registry; what that package keeps in
// memory tug keeps on disk under the state directory: blobs (content
// addressed, written by temp file, fsync and rename), uploads in progress
// (streamed to a file, never buffered whole), and manifests and tags.
// Garbage collection keeps the newest tags of each repository and every
// image a release pins, and deletes the manifests and blobs nothing kept
// refers to.
package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
)

// Defaults of Options.
const (
	// DefaultKeep is how many tags of each repository are kept.
	DefaultKeep = 10
	// DefaultGrace is how old an unreferenced blob, manifest or upload must
	// be before garbage collection removes it: a push in progress uploads
	// its blobs before the manifest that refers to them.
	DefaultGrace = time.Hour
	// DefaultGCDelay is how long after a push garbage collection runs, so
	// a burst of pushes costs one pass.
	DefaultGCDelay = time.Minute
)

// Options configure a Registry. Dir is required.
type Options struct {
	// Dir holds the registry's storage (the state directory's registry/).
	Dir string
	// Keep is how many tags of each repository garbage collection keeps,
	// newest first; <= 0 means DefaultKeep.
	Keep int
	// Pinned lists the images that must be kept whatever their age or tags
	// (the digests releases pin), as digests ("sha256:...") or references
	// ending in one ("127.0.0.1:5000/shop@sha256:..."). It is called once
	// per collection, from the collecting goroutine, and honours ctx; an
	// error skips the collection (nothing is deleted without knowing what
	// is pinned). Nil pins nothing.
	Pinned func(ctx context.Context) ([]string, error)
	// Grace is DefaultGrace when zero.
	Grace time.Duration
	// GCDelay is DefaultGCDelay when zero.
	GCDelay time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

// Registry stores images on disk and serves them over the OCI
// distribution API. Its handler is safe for concurrent use; GC may run
// beside requests.
type Registry struct {
	o       Options
	log     *slog.Logger
	blobs   *blobStore
	uploads string
	repos   string
	handler http.Handler
	// mu orders garbage collection against manifest and tag changes:
	// writers of manifests hold it shared, a collection exclusively.
	mu sync.RWMutex
	// pushed is signalled after a manifest is stored.
	pushed chan struct{}
}

// New opens (creating as needed) the storage under o.Dir.
func New(o Options) (*Registry, error) {
	if o.Dir == "" {
		return nil, errors.New("registry: Dir is required")
	}
	if o.Keep <= 0 {
		o.Keep = DefaultKeep
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.GCDelay <= 0 {
		o.GCDelay = DefaultGCDelay
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Registry{
		o:       o,
		log:     o.Logger,
		blobs:   &blobStore{dir: filepath.Join(o.Dir, "blobs")},
		uploads: filepath.Join(o.Dir, "uploads"),
		repos:   filepath.Join(o.Dir, "repositories"),
		pushed:  make(chan struct{}, 1),
	}
	for _, d := range []string{o.Dir, r.blobs.dir, r.uploads, r.repos} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("registry storage: %w", err)
		}
	}
	r.handler = ggcr.New(
		ggcr.WithBlobHandler(r.blobs),
		ggcr.Logger(slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)),
	)
	return r, nil
}

// nameRE is a repository name as the distribution spec has it.
var nameRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// tagRE is a tag as the distribution spec has it.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// Handler serves the OCI distribution API (/v2/...).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(r.serve)
}

// route is a /v2/NAME/KIND/REST request, split.
type route struct {
	// kind is manifests, blobs, uploads, tags or referrers.
	name, kind, rest string
}

// parseRoute splits /v2/NAME/manifests/REF, /v2/NAME/blobs/DIGEST,
// /v2/NAME/blobs/uploads/[ID], /v2/NAME/tags/list and
// /v2/NAME/referrers/DIGEST, reading from the right as names may have
// many components; ok is false for other paths (/v2/).
func parseRoute(p string) (route, bool) {
	p, found := strings.CutPrefix(p, "/v2/")
	if !found {
		return route{}, false
	}
	e := strings.Split(strings.TrimSuffix(p, "/"), "/")
	n := len(e)
	switch {
	case n >= 3 && e[n-2] == "blobs" && e[n-1] == "uploads":
		return route{name: strings.Join(e[:n-2], "/"), kind: "uploads"}, true
	case n >= 4 && e[n-3] == "blobs" && e[n-2] == "uploads":
		return route{name: strings.Join(e[:n-3], "/"), kind: "uploads", rest: e[n-1]}, true
	case n >= 3 && (e[n-2] == "manifests" || e[n-2] == "blobs" || e[n-2] == "tags" || e[n-2] == "referrers"):
		return route{name: strings.Join(e[:n-2], "/"), kind: e[n-2], rest: e[n-1]}, true
	}
	return route{}, false
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if req.URL.Path == "/v2/_catalog" {
		r.catalog(w, req)
		return
	}
	rt, ok := parseRoute(req.URL.Path)
	if !ok {
		r.handler.ServeHTTP(w, req)
		return
	}
	if !nameRE.MatchString(rt.name) || len(rt.name) > 255 {
		writeError(w, http.StatusBadRequest, "NAME_INVALID", fmt.Sprintf("invalid repository name %q", rt.name))
		return
	}
	switch rt.kind {
	case "manifests":
		r.manifest(w, req, rt.name, rt.rest)
	case "tags":
		if rt.rest != "list" {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no such endpoint")
			return
		}
		r.tags(w, req, rt.name)
	case "uploads":
		r.upload(w, req, rt)
	case "referrers":
		writeError(w, http.StatusNotFound, "UNSUPPORTED", "referrers are not served")
	default:
		r.handler.ServeHTTP(w, req)
	}
}

// writeError answers with the distribution spec's error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`+"\n", code, msg)
}

// internalError answers for a failure of the registry's own storage.
func internalError(w http.ResponseWriter, err error) {
	writeError(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error())
}
