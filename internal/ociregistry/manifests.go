package ociregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tugdev/tug/internal/kit"
)

// maxManifest bounds a manifest's size, as distribution's registry does.
const maxManifest = 4 << 20

// A repository's manifests and tags live under repositories/NAME/:
// _manifests/HEX is a link to the manifest's blob (stored with the other
// blobs, by digest) holding its media type; _tags/TAG holds the digest
// the tag points to.

// link is what a repository's _manifests/HEX file records.
type link struct {
	MediaType string `json:"mediaType"`
}

// manifestRefs is the part of an image manifest or index that refers to
// other content.
type manifestRefs struct {
	MediaType string          `json:"mediaType"`
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Manifests []v1.Descriptor `json:"manifests"`
}

// blobs lists the blobs an image manifest refers to (config and layers).
func (m *manifestRefs) blobs() []v1.Hash {
	var out []v1.Hash
	if m.Config != nil {
		out = append(out, m.Config.Digest)
	}
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}

func (r *Registry) repoDir(name string) string {
	return filepath.Join(r.repos, filepath.FromSlash(name))
}

func (r *Registry) linkPath(name string, h v1.Hash) string {
	return filepath.Join(r.repoDir(name), "_manifests", h.Hex)
}

func (r *Registry) tagPath(name, tag string) string {
	return filepath.Join(r.repoDir(name), "_tags", tag)
}

// resolve turns a tag or digest of repository name into the digest of a
// manifest the repository holds, and its media type.
func (r *Registry) resolve(name, ref string) (v1.Hash, string, error) {
	var h v1.Hash
	if strings.Contains(ref, ":") {
		var err error
		if h, err = v1.NewHash(ref); err != nil || h.Algorithm != "sha256" {
			return v1.Hash{}, "", errBadDigest
		}
	} else {
		if !tagRE.MatchString(ref) {
			return v1.Hash{}, "", errBadTag
		}
		b, err := os.ReadFile(r.tagPath(name, ref))
		if errors.Is(err, fs.ErrNotExist) {
			return v1.Hash{}, "", errManifestUnknown
		} else if err != nil {
			return v1.Hash{}, "", err
		}
		if h, err = v1.NewHash(strings.TrimSpace(string(b))); err != nil {
			return v1.Hash{}, "", fmt.Errorf("tag %s of %s: %w", ref, name, err)
		}
	}
	b, err := os.ReadFile(r.linkPath(name, h))
	if errors.Is(err, fs.ErrNotExist) {
		return v1.Hash{}, "", errManifestUnknown
	} else if err != nil {
		return v1.Hash{}, "", err
	}
	var l link
	if err := json.Unmarshal(b, &l); err != nil {
		return v1.Hash{}, "", fmt.Errorf("manifest %s of %s: %w", h, name, err)
	}
	return h, l.MediaType, nil
}

var (
	errBadDigest       = errors.New("invalid digest")
	errBadTag          = errors.New("invalid tag")
	errManifestUnknown = errors.New("manifest unknown")
)

// manifest serves /v2/NAME/manifests/REF.
func (r *Registry) manifest(w http.ResponseWriter, req *http.Request, name, ref string) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		r.getManifest(w, req, name, ref)
	case http.MethodPut:
		r.putManifest(w, req, name, ref)
	case http.MethodDelete:
		r.deleteManifest(w, name, ref)
	default:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "unsupported method on a manifest")
	}
}

// refError answers for an error of resolve.
func refError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errBadDigest):
		writeError(w, http.StatusBadRequest, "DIGEST_INVALID", err.Error())
	case errors.Is(err, errBadTag):
		writeError(w, http.StatusBadRequest, "TAG_INVALID", err.Error())
	case errors.Is(err, errManifestUnknown):
		writeError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "manifest unknown")
	default:
		internalError(w, err)
	}
}

func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, name, ref string) {
	h, mt, err := r.resolve(name, ref)
	if err != nil {
		refError(w, err)
		return
	}
	f, err := os.Open(r.blobs.path(h))
	if err != nil {
		refError(w, fmt.Errorf("manifest %s of %s: %w", h, name, err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		refError(w, err)
		return
	}
	w.Header().Set("Content-Type", mt)
	w.Header().Set("Docker-Content-Digest", h.String())
	w.Header().Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		io.Copy(w, f)
	}
}

// putManifest stores a manifest pushed by tag or by digest. Everything it
// refers to must be there already (blobs, or the manifests of an index),
// so a stored manifest can always be pulled.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, name, ref string) {
	body, err := io.ReadAll(io.LimitReader(req.Body, maxManifest+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "reading the manifest: "+err.Error())
		return
	}
	if len(body) > maxManifest {
		writeError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", fmt.Sprintf("a manifest may be %d bytes at most", maxManifest))
		return
	}
	h, _, _ := v1.SHA256(bytes.NewReader(body))
	tag := ""
	if strings.Contains(ref, ":") {
		want, err := v1.NewHash(ref)
		if err != nil {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", err.Error())
			return
		}
		if want != h {
			writeError(w, http.StatusBadRequest, "DIGEST_INVALID", fmt.Sprintf("the manifest's digest is %s, not %s", h, want))
			return
		}
	} else if !tagRE.MatchString(ref) {
		writeError(w, http.StatusBadRequest, "TAG_INVALID", fmt.Sprintf("invalid tag %q", ref))
		return
	} else {
		tag = ref
	}
	var m manifestRefs
	if err := json.Unmarshal(body, &m); err != nil {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "the manifest is not JSON: "+err.Error())
		return
	}
	mt := req.Header.Get("Content-Type")
	if mt == "" {
		mt = m.MediaType
	}
	if mt == "" {
		writeError(w, http.StatusBadRequest, "MANIFEST_INVALID", "the manifest has no media type (Content-Type or mediaType)")
		return
	}

	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, b := range m.blobs() {
		if !r.blobs.has(b) {
			writeError(w, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN", fmt.Sprintf("blob %s is not in the registry: push it before the manifest", b))
			return
		}
	}
	for _, d := range m.Manifests {
		if _, err := os.Stat(r.linkPath(name, d.Digest)); err != nil {
			writeError(w, http.StatusBadRequest, "MANIFEST_UNKNOWN", fmt.Sprintf("manifest %s is not in %s: push it before the index", d.Digest, name))
			return
		}
	}
	if err := r.storeManifest(name, tag, h, mt, body); err != nil {
		internalError(w, err)
		return
	}
	r.log.Info("image pushed", "repository", name, "tag", tag, "digest", h.String())
	select {
	case r.pushed <- struct{}{}:
	default:
	}
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+h.String())
	w.Header().Set("Docker-Content-Digest", h.String())
	w.WriteHeader(http.StatusCreated)
}

// storeManifest writes the manifest's blob, then its link, then the tag:
// a crash in between leaves an unreferenced blob or link for garbage
// collection, never a tag to nothing. The caller holds r.mu shared.
func (r *Registry) storeManifest(name, tag string, h v1.Hash, mediaType string, body []byte) error {
	if !r.blobs.has(h) {
		if err := r.blobs.Put(context.Background(), name, h, io.NopCloser(bytes.NewReader(body))); err != nil {
			return fmt.Errorf("store manifest: %w", err)
		}
	}
	lp := r.linkPath(name, h)
	if err := os.MkdirAll(filepath.Dir(lp), 0o700); err != nil {
		return err
	}
	lb, _ := json.Marshal(link{MediaType: mediaType})
	if err := kit.WriteFile(lp, lb, 0o600); err != nil {
		return fmt.Errorf("store manifest: %w", err)
	}
	if tag == "" {
		return nil
	}
	tp := r.tagPath(name, tag)
	if err := os.MkdirAll(filepath.Dir(tp), 0o700); err != nil {
		return err
	}
	if err := kit.WriteFile(tp, []byte(h.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("store tag: %w", err)
	}
	return nil
}

// deleteManifest deletes a tag, or a manifest by digest with every tag
// pointing to it. Its blobs go at the next garbage collection.
func (r *Registry) deleteManifest(w http.ResponseWriter, name, ref string) {
	h, _, err := r.resolve(name, ref)
	if err != nil {
		refError(w, err)
		return
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !strings.Contains(ref, ":") {
		if err := os.Remove(r.tagPath(name, ref)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			refError(w, err)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	tags, err := r.tagsOf(name)
	if err != nil {
		refError(w, err)
		return
	}
	for _, t := range tags {
		if t.digest == h {
			os.Remove(r.tagPath(name, t.name))
		}
	}
	if err := os.Remove(r.linkPath(name, h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		refError(w, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// tagInfo is one tag of a repository.
type tagInfo struct {
	name   string
	digest v1.Hash
	// mtime orders tags newest first for garbage collection.
	mtime int64
}

// tagsOf lists a repository's tags; none when it has none.
func (r *Registry) tagsOf(name string) ([]tagInfo, error) {
	dir := filepath.Join(r.repoDir(name), "_tags")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []tagInfo
	for _, e := range ents {
		if kit.IsTemp(e.Name()) || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		h, err := v1.NewHash(strings.TrimSpace(string(b)))
		if err != nil {
			continue
		}
		t := tagInfo{name: e.Name(), digest: h}
		if fi, err := e.Info(); err == nil {
			t.mtime = fi.ModTime().UnixNano()
		}
		out = append(out, t)
	}
	return out, nil
}

// tags serves /v2/NAME/tags/list, with the spec's n and last.
func (r *Registry) tags(w http.ResponseWriter, req *http.Request, name string) {
	if req.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "tags are listed with GET")
		return
	}
	if _, err := os.Stat(filepath.Join(r.repoDir(name), "_manifests")); err != nil {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", fmt.Sprintf("repository %s is not in the registry", name))
		return
	}
	infos, err := r.tagsOf(name)
	if err != nil {
		refError(w, err)
		return
	}
	names := []string{}
	for _, t := range infos {
		names = append(names, t.name)
	}
	slices.Sort(names)
	names = page(names, req)
	writeJSON(w, map[string]any{"name": name, "tags": names})
}

// page applies the spec's pagination (n, last) to a sorted list.
func page(items []string, req *http.Request) []string {
	if last := req.URL.Query().Get("last"); last != "" {
		i, _ := slices.BinarySearch(items, last)
		for i < len(items) && items[i] <= last {
			i++
		}
		items = items[i:]
	}
	if n, err := strconv.Atoi(req.URL.Query().Get("n")); err == nil && n >= 0 && n < len(items) {
		items = items[:n]
	}
	return items
}

// repositories lists every repository holding a manifest, sorted.
func (r *Registry) repositories() ([]string, error) {
	var out []string
	err := filepath.WalkDir(r.repos, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "_manifests":
			rel, _ := filepath.Rel(r.repos, filepath.Dir(p))
			out = append(out, filepath.ToSlash(rel))
			return filepath.SkipDir
		case "_tags":
			return filepath.SkipDir
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// catalog serves /v2/_catalog.
func (r *Registry) catalog(w http.ResponseWriter, req *http.Request) {
	repos, err := r.repositories()
	if err != nil {
		refError(w, err)
		return
	}
	if repos == nil {
		repos = []string{}
	}
	writeJSON(w, map[string]any{"repositories": page(repos, req)})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
