package ociregistry

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// TestPushPullAcrossRestart: an image pushed in chunks is pulled by tag
// and by digest, and a registry opened again on the same directory (a
// server restart) still has it: storage is on disk.
func TestPushPullAcrossRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, srv := newTestRegistry(t, Options{Dir: dir})
	d := pushImage(t, srv.URL, "team/shop", "abc123", "layer one, in chunks", "layer two")
	if miss := pullable(t, srv.URL, "team/shop", "abc123"); miss != "" {
		t.Fatal(miss)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "uploads")); len(ents) != 0 {
		t.Errorf("finished uploads left files: %v", ents)
	}
	srv.Close()

	_, srv2 := newTestRegistry(t, Options{Dir: dir})
	for _, ref := range []string{"abc123", d} {
		if miss := pullable(t, srv2.URL, "team/shop", ref); miss != "" {
			t.Errorf("after restart, %s: %s", ref, miss)
		}
	}
	code, h, body := do(t, "HEAD", srv2.URL+"/v2/team/shop/manifests/abc123", nil)
	if code != http.StatusOK || h.Get("Docker-Content-Digest") != d || h.Get("Content-Type") != manifestType {
		t.Errorf("HEAD: %d %v %s", code, h, body)
	}
	code, _, body = do(t, "GET", srv2.URL+"/v2/team/shop/tags/list", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"tags":["abc123"]`) {
		t.Errorf("tags: %d %s", code, body)
	}
	code, _, body = do(t, "GET", srv2.URL+"/v2/_catalog", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"repositories":["team/shop"]`) {
		t.Errorf("catalog: %d %s", code, body)
	}
}

// TestUploadChunksGoToDisk: a chunk of an unfinished upload is a file in
// uploads/, not held in memory, and a chunk that does not continue the
// upload is refused.
func TestUploadChunksGoToDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, srv := newTestRegistry(t, Options{Dir: dir})
	code, h, _ := do(t, "POST", srv.URL+"/v2/shop/blobs/uploads/", nil)
	if code != http.StatusAccepted {
		t.Fatal(code)
	}
	loc := h.Get("Location")
	code, h, _ = do(t, "PATCH", srv.URL+loc, []byte("0123456789"), "Content-Range", "0-9")
	if code != http.StatusAccepted || h.Get("Range") != "0-9" {
		t.Fatalf("PATCH: %d %v", code, h)
	}
	b, err := os.ReadFile(filepath.Join(dir, "uploads", filepath.Base(loc)))
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("upload file: %q %v", b, err)
	}
	code, h, _ = do(t, "PATCH", srv.URL+loc, []byte("xx"), "Content-Range", "4-5")
	if code != http.StatusRequestedRangeNotSatisfiable || h.Get("Range") != "0-9" {
		t.Errorf("overlapping chunk: %d %v", code, h)
	}
	code, h, _ = do(t, "GET", srv.URL+loc, nil)
	if code != http.StatusNoContent || h.Get("Range") != "0-9" {
		t.Errorf("upload status: %d %v", code, h)
	}
	// The last part comes with the PUT.
	d := digestOf([]byte("0123456789abc"))
	code, _, body := do(t, "PUT", srv.URL+loc+"?digest="+d, []byte("abc"))
	if code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, _, body = do(t, "GET", srv.URL+"/v2/shop/blobs/"+d, nil)
	if code != http.StatusOK || string(body) != "0123456789abc" {
		t.Errorf("blob: %d %q", code, body)
	}
}

// TestBadPushesStoreNothing: a blob whose content does not match its
// digest, a manifest naming a blob the registry lacks, a manifest pushed
// by a digest it does not have, a bad name or tag: each is refused with
// the spec's error code, and nothing is stored.
func TestBadPushesStoreNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, srv := newTestRegistry(t, Options{Dir: dir})
	wrong := digestOf([]byte("something else"))
	code, _, body := do(t, "POST", srv.URL+"/v2/shop/blobs/uploads/?digest="+wrong, []byte("the content"))
	if code != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Errorf("mismatched blob: %d %s", code, body)
	}
	if code, _, _ := do(t, "HEAD", srv.URL+"/v2/shop/blobs/"+wrong, nil); code != http.StatusNotFound {
		t.Errorf("mismatched blob stored: %d", code)
	}
	missing := `{"schemaVersion":2,"mediaType":"` + manifestType + `","config":{"digest":"` + wrong + `","size":3},"layers":[]}`
	code, _, body = do(t, "PUT", srv.URL+"/v2/shop/manifests/v1", []byte(missing), "Content-Type", manifestType)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "MANIFEST_BLOB_UNKNOWN") {
		t.Errorf("manifest with a missing blob: %d %s", code, body)
	}
	code, _, body = do(t, "PUT", srv.URL+"/v2/shop/manifests/"+wrong, []byte(`{"schemaVersion":2,"mediaType":"`+manifestType+`","layers":[]}`), "Content-Type", manifestType)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "DIGEST_INVALID") {
		t.Errorf("manifest by a wrong digest: %d %s", code, body)
	}
	for _, p := range []string{"/v2/Shop/manifests/v1", "/v2/../etc/manifests/v1", "/v2/a//b/tags/list", "/v2/_x/blobs/uploads/"} {
		code, _, body := do(t, "PUT", srv.URL+p, []byte("{}"))
		if code != http.StatusBadRequest && code != http.StatusNotFound {
			t.Errorf("%s: %d %s", p, code, body)
		}
	}
	code, _, body = do(t, "PUT", srv.URL+"/v2/shop/manifests/bad..tag!", []byte("{}"), "Content-Type", manifestType)
	if code != http.StatusBadRequest || !strings.Contains(string(body), "TAG_INVALID") {
		t.Errorf("bad tag: %d %s", code, body)
	}
	code, _, body = do(t, "GET", srv.URL+"/v2/_catalog", nil)
	if !strings.Contains(string(body), `"repositories":[]`) {
		t.Errorf("catalog after refused pushes: %d %s", code, body)
	}
}

// TestDeleteManifest: deleting a tag keeps the manifest; deleting the
// manifest by digest removes the tags naming it.
func TestDeleteManifest(t *testing.T) {
	t.Parallel()
	_, srv := newTestRegistry(t, Options{})
	d := pushImage(t, srv.URL, "shop", "v1", "l")
	do(t, "PUT", srv.URL+"/v2/shop/manifests/v2", mustGet(t, srv.URL+"/v2/shop/manifests/v1"), "Content-Type", manifestType)
	if code, _, _ := do(t, "DELETE", srv.URL+"/v2/shop/manifests/v1", nil); code != http.StatusAccepted {
		t.Fatal(code)
	}
	if pullable(t, srv.URL, "shop", "v1") == "" || pullable(t, srv.URL, "shop", d) != "" {
		t.Error("deleting tag v1 should keep the manifest and drop the tag")
	}
	if code, _, _ := do(t, "DELETE", srv.URL+"/v2/shop/manifests/"+d, nil); code != http.StatusAccepted {
		t.Fatal(code)
	}
	if pullable(t, srv.URL, "shop", "v2") == "" || pullable(t, srv.URL, "shop", d) == "" {
		t.Error("deleting the manifest should drop it and tag v2")
	}
}

func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	code, _, b := do(t, "GET", url, nil, "Accept", manifestType)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	return b
}

// TestGCKeepsNewestTagsAndPinnedImages: with keep 2, the two newest tags
// and the pinned image stay pullable; the other image's manifest and its
// own layer go, as does an unreferenced blob and a stale upload past the
// grace period, while a fresh unreferenced blob (a push in progress)
// stays.
func TestGCKeepsNewestTagsAndPinnedImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := testkit.NewClock(time.Now())
	var pinned []string
	r, srv := newTestRegistry(t, Options{Dir: dir, Keep: 2, Grace: time.Hour, Now: clock.Now,
		Pinned: func(context.Context) ([]string, error) { return pinned, nil }})
	shared := "shared base layer"
	var digests []string
	for i, tag := range []string{"c1", "c2", "c3", "c4"} {
		digests = append(digests, pushImage(t, srv.URL, "shop", tag, shared, "own layer of "+tag))
		// Tags age in push order.
		at := clock.Now().Add(time.Duration(i-10) * time.Minute)
		os.Chtimes(filepath.Join(dir, "repositories", "shop", "_tags", tag), at, at)
	}
	pinned = []string{"127.0.0.1:5000/shop@" + digests[0]}
	stray := pushBlob(t, srv.URL, "shop", []byte("a layer no manifest names"), 100)
	os.WriteFile(filepath.Join(dir, "uploads", "12345"), []byte("abandoned"), 0o600)

	// Within the grace period nothing unreferenced goes, only old tags.
	st, err := r.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Tags != 2 || st.Manifests != 0 || st.Blobs != 0 {
		t.Errorf("within grace: %+v, want 2 tags removed only", st)
	}
	// Later, everything unreferenced and old goes; a fresh stray blob (an
	// upload in progress) stays.
	clock.Advance(2 * time.Hour)
	fresh := pushBlob(t, srv.URL, "shop", []byte("a layer being pushed right now"), 100)
	now := clock.Now()
	os.Chtimes(filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(fresh, "sha256:")), now, now)
	st, err = r.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// c2 goes (its manifest, stored as a blob too, its config and own
	// layer); the stray blob and the upload go.
	if st.Manifests != 1 || st.Blobs != 4 || st.Uploads != 1 {
		t.Errorf("after grace: %+v, want 1 manifest, 4 blobs, 1 upload", st)
	}
	for _, ref := range []string{"c3", "c4", digests[0]} {
		if miss := pullable(t, srv.URL, "shop", ref); miss != "" {
			t.Errorf("%s should stay pullable: %s", ref, miss)
		}
	}
	if miss := pullable(t, srv.URL, "shop", digests[1]); miss == "" {
		t.Error("c2 (neither among the 2 newest tags nor pinned) is still there")
	}
	if code, _, _ := do(t, "HEAD", srv.URL+"/v2/shop/blobs/"+stray, nil); code != http.StatusNotFound {
		t.Errorf("stray blob: %d, want it collected", code)
	}
	if code, _, _ := do(t, "HEAD", srv.URL+"/v2/shop/blobs/"+fresh, nil); code != http.StatusOK {
		t.Errorf("fresh blob: %d, want it kept", code)
	}
	_, _, body := do(t, "GET", srv.URL+"/v2/shop/tags/list", nil)
	var tl struct{ Tags []string }
	json.Unmarshal(body, &tl)
	if !slices.Equal(tl.Tags, []string{"c3", "c4"}) {
		t.Errorf("tags %v, want [c3 c4]", tl.Tags)
	}

	// Nothing pinned and every tag deleted: the repository goes, and a
	// repository nested under its name stays.
	pushImage(t, srv.URL, "shop/nested", "n1", "nested layer")
	pinned = nil
	for _, tag := range []string{"c3", "c4"} {
		do(t, "DELETE", srv.URL+"/v2/shop/manifests/"+tag, nil)
	}
	clock.Advance(2 * time.Hour)
	if _, err := r.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, _, body = do(t, "GET", srv.URL+"/v2/_catalog", nil)
	if !strings.Contains(string(body), `"repositories":["shop/nested"]`) {
		t.Errorf("catalog: %s", body)
	}
	if miss := pullable(t, srv.URL, "shop/nested", "n1"); miss != "" {
		t.Errorf("nested repository: %s", miss)
	}
}

// TestGCWithoutPinsDeletesNothing: when the pinned images cannot be
// listed, the collection stops before deleting anything.
func TestGCWithoutPinsDeletesNothing(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Now())
	r, srv := newTestRegistry(t, Options{Keep: 1, Now: clock.Now,
		Pinned: func(context.Context) ([]string, error) { return nil, os.ErrDeadlineExceeded }})
	pushImage(t, srv.URL, "shop", "a", "x")
	pushImage(t, srv.URL, "shop", "b", "y")
	clock.Advance(48 * time.Hour)
	if _, err := r.GC(context.Background()); err == nil {
		t.Fatal("GC without the pinned list: want an error")
	}
	for _, tag := range []string{"a", "b"} {
		if miss := pullable(t, srv.URL, "shop", tag); miss != "" {
			t.Errorf("%s: %s", tag, miss)
		}
	}
}
