package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// blobStore keeps file contents once each, named by their SHA-256.
type blobStore struct {
	dir  string // <cache>/blobs/sha256
	hash *hasher
}

func isDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func (b blobStore) path(digest string) string {
	return filepath.Join(b.dir, digest[:2], digest)
}

// has reports whether a blob of that digest and size is stored.
func (b blobStore) has(digest string, size int64) bool {
	fi, err := os.Stat(b.path(digest))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// putOpen stores the content of an open file (read from its start) and
// returns its digest and size; added says whether the blob is new.
func (b blobStore) putOpen(f *os.File) (digest string, size int64, added bool, err error) {
	digest, size, err = b.hash.reader(f)
	if err != nil {
		return "", 0, false, err
	}
	if b.has(digest, size) {
		return digest, size, false, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, false, err
	}
	if err := b.write(digest, f); err != nil {
		return "", 0, false, err
	}
	return digest, size, true, nil
}

// putBytes stores data and returns its digest.
func (b blobStore) putBytes(data []byte) (digest string, added bool, err error) {
	sum := sha256.Sum256(data)
	digest = hex.EncodeToString(sum[:])
	if b.has(digest, int64(len(data))) {
		return digest, false, nil
	}
	return digest, true, b.write(digest, bytes.NewReader(data))
}

// write copies r into the blob named digest, checking that the content
// really hashes to it (a file changed while being stored fails).
func (b blobStore) write(digest string, r io.Reader) error {
	dst := b.path(digest)
	return writeAtomic(dst, 0o444, false, func(w io.Writer) error {
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, h), r); err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != digest {
			return errors.New("content changed while it was stored")
		}
		return nil
	})
}

// open returns a stored blob; a missing one wraps ErrNotFound.
func (b blobStore) open(digest string) (*os.File, error) {
	if !isDigest(digest) {
		return nil, fmt.Errorf("blob %q: %w", digest, ErrCorrupt)
	}
	f, err := os.Open(b.path(digest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", shortKey(digest), ErrNotFound)
	}
	return f, err
}

// read returns a small blob's content (a stored log).
func (b blobStore) read(digest string) ([]byte, error) {
	f, err := b.open(digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
