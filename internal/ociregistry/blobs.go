package ociregistry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tugdev/tug/internal/kit"
)

// blobStore keeps blobs on disk by digest, blobs/ALGORITHM/HEX, shared by
// every repository. It is go-containerregistry's blob handler; deleting
// is garbage collection's alone (a blob one repository deletes may be
// another's layer).
type blobStore struct {
	dir string
}

var (
	_ ggcr.BlobHandler     = (*blobStore)(nil)
	_ ggcr.BlobStatHandler = (*blobStore)(nil)
	_ ggcr.BlobPutHandler  = (*blobStore)(nil)
)

func (b *blobStore) path(h v1.Hash) string {
	return filepath.Join(b.dir, h.Algorithm, h.Hex)
}

// Stat gives a blob's size. It also marks the blob as just used: a push
// that finds a layer present (a HEAD) refers to it in its manifest a
// moment later, and garbage collection spares blobs used within its grace
// period.
func (b *blobStore) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	p := b.path(h)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ggcr.ErrNotFound
	} else if err != nil {
		return 0, err
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now)
	return fi.Size(), nil
}

// Get opens a blob.
func (b *blobStore) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(b.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ggcr.ErrNotFound
	}
	return f, err
}

// Put stores a blob by temp file, fsync and rename, so a reader (or a
// restarted server) sees it whole or not at all. rc verifies the digest
// as it is read; a mismatch fails the copy and nothing is stored.
func (b *blobStore) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	dir := filepath.Join(b.dir, h.Algorithm)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return kit.WriteFileFrom(b.path(h), 0o600, kit.SyncAll, func(w io.Writer) error {
		_, err := io.Copy(w, rc)
		return err
	})
}

// has says whether the blob is stored.
func (b *blobStore) has(h v1.Hash) bool {
	_, err := os.Stat(b.path(h))
	return err == nil
}

// uploadID is the form of go-containerregistry's upload session IDs.
func validUploadID(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	_, err := strconv.ParseUint(id, 10, 64)
	return err == nil
}

// upload serves an upload session. go-containerregistry starts sessions
// (POST) and finishes them (PUT, where it verifies the digest); the
// chunks in between (PATCH) go to a file under uploads/, where that
// package would hold them in memory, and the file is handed to the PUT.
func (r *Registry) upload(w http.ResponseWriter, req *http.Request, rt route) {
	if rt.rest == "" {
		if req.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "start an upload with POST")
			return
		}
		r.handler.ServeHTTP(w, req)
		return
	}
	if !validUploadID(rt.rest) {
		writeError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "unknown upload")
		return
	}
	file := filepath.Join(r.uploads, rt.rest)
	location := "/v2/" + rt.name + "/blobs/uploads/" + rt.rest
	switch req.Method {
	case http.MethodPatch:
		r.appendChunk(w, req, file, location)
	case http.MethodPut:
		r.finishUpload(w, req, file)
	case http.MethodGet:
		size := fileSize(file)
		w.Header().Set("Location", location)
		w.Header().Set("Range", uploadRange(size))
		w.Header().Set("Docker-Upload-UUID", rt.rest)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		os.Remove(file)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "unsupported method on an upload")
	}
}

// appendChunk appends a PATCH body to the upload's file. A Content-Range
// must start where the upload stands.
func (r *Registry) appendChunk(w http.ResponseWriter, req *http.Request, file, location string) {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		internalError(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		internalError(w, err)
		return
	}
	if cr := req.Header.Get("Content-Range"); cr != "" {
		var start, end int64
		if _, err := fmt.Sscanf(strings.TrimPrefix(cr, "bytes="), "%d-%d", &start, &end); err != nil || start != fi.Size() {
			w.Header().Set("Range", uploadRange(fi.Size()))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID", fmt.Sprintf("content range %q does not continue the upload (it has %d bytes)", cr, fi.Size()))
			return
		}
	}
	n, err := io.Copy(f, req.Body)
	if err != nil {
		// The client went away mid-chunk: drop what this chunk wrote, so a
		// retry continues from a clean end.
		_ = f.Truncate(fi.Size())
		writeError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", "reading the chunk: "+err.Error())
		return
	}
	w.Header().Set("Location", location)
	w.Header().Set("Range", uploadRange(fi.Size()+n))
	w.Header().Set("Docker-Upload-UUID", filepath.Base(file))
	w.WriteHeader(http.StatusAccepted)
}

// finishUpload hands go-containerregistry's PUT the upload's file
// followed by the PUT's own body, so it verifies the digest and stores the
// blob streaming; the file goes once the blob is stored.
func (r *Registry) finishUpload(w http.ResponseWriter, req *http.Request, file string) {
	f, err := os.Open(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.handler.ServeHTTP(w, req) // the whole blob is in the PUT
		return
	case err != nil:
		internalError(w, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		internalError(w, err)
		return
	}
	put := req.Clone(req.Context())
	put.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(f, req.Body), req.Body}
	switch {
	case req.ContentLength >= 0:
		put.ContentLength = fi.Size() + req.ContentLength
	default:
		put.ContentLength = -1
	}
	sw := &statusWriter{ResponseWriter: w}
	r.handler.ServeHTTP(sw, put)
	if sw.status == http.StatusCreated {
		os.Remove(file)
	}
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// uploadRange is the Range header of an upload holding size bytes.
func uploadRange(size int64) string {
	if size == 0 {
		return "0-0"
	}
	return fmt.Sprintf("0-%d", size-1)
}
