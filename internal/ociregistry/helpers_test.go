package ociregistry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newTestRegistry serves a Registry over httptest.
func newTestRegistry(t *testing.T, o Options) (*Registry, *httptest.Server) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(srv.Close)
	return r, srv
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// do sends one request and returns the answer's status, headers and body.
func do(t *testing.T, method, url string, body []byte, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// pushBlob uploads b as a client does: POST a session, PATCH it in chunks
// of chunk bytes, PUT with the digest.
func pushBlob(t *testing.T, base, name string, b []byte, chunk int) string {
	t.Helper()
	code, h, body := do(t, "POST", base+"/v2/"+name+"/blobs/uploads/", nil)
	if code != http.StatusAccepted {
		t.Fatalf("start upload: %d %s", code, body)
	}
	loc := h.Get("Location")
	for off := 0; off < len(b); off += chunk {
		end := min(off+chunk, len(b))
		code, h, body = do(t, "PATCH", base+loc, b[off:end], "Content-Range", fmt.Sprintf("%d-%d", off, end-1), "Content-Type", "application/octet-stream")
		if code != http.StatusAccepted {
			t.Fatalf("chunk at %d: %d %s", off, code, body)
		}
		loc = h.Get("Location")
	}
	d := digestOf(b)
	code, _, body = do(t, "PUT", base+loc+"?digest="+d, nil)
	if code != http.StatusCreated {
		t.Fatalf("finish upload: %d %s", code, body)
	}
	return d
}

const manifestType = "application/vnd.docker.distribution.manifest.v2+json"

// pushImage pushes a config and layers and a manifest tagged tag,
// returning the manifest's digest.
func pushImage(t *testing.T, base, name, tag string, layers ...string) string {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","tag":"` + tag + `"}`)
	cd := pushBlob(t, base, name, cfg, 1<<20)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     manifestType,
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(cfg), "digest": cd},
	}
	var ls []map[string]any
	for _, l := range layers {
		d := pushBlob(t, base, name, []byte(l), 7)
		ls = append(ls, map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(l), "digest": d})
	}
	m["layers"] = ls
	mb, _ := json.Marshal(m)
	code, h, body := do(t, "PUT", base+"/v2/"+name+"/manifests/"+tag, mb, "Content-Type", manifestType)
	if code != http.StatusCreated {
		t.Fatalf("push manifest %s:%s: %d %s", name, tag, code, body)
	}
	if got := h.Get("Docker-Content-Digest"); got != digestOf(mb) {
		t.Fatalf("manifest digest %q, want %q", got, digestOf(mb))
	}
	return digestOf(mb)
}

// pullable fetches a manifest and every blob it names; "" when all are
// there, else what is missing.
func pullable(t *testing.T, base, name, ref string) string {
	t.Helper()
	code, _, body := do(t, "GET", base+"/v2/"+name+"/manifests/"+ref, nil, "Accept", manifestType)
	if code != http.StatusOK {
		return fmt.Sprintf("manifest %s: %d", ref, code)
	}
	var m manifestRefs
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, b := range m.blobs() {
		if code, _, _ := do(t, "GET", base+"/v2/"+name+"/blobs/"+b.String(), nil); code != http.StatusOK {
			missing = append(missing, fmt.Sprintf("blob %s: %d", b, code))
		}
	}
	return strings.Join(missing, "; ")
}
