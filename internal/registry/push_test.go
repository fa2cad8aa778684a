package registry

import (
	"context"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/image"
	dockerregistry "github.com/docker/docker/api/types/registry"
)

// fakePusher answers a push with a progress stream and records the
// credentials it was given.
type fakePusher struct {
	auth, ref string
	stream    string
}

func (f *fakePusher) ImagePush(_ context.Context, ref string, opts image.PushOptions) (io.ReadCloser, error) {
	f.ref, f.auth = ref, opts.RegistryAuth
	return io.NopCloser(strings.NewReader(f.stream)), nil
}

// TestPushUsesDockerCredentialsAndReturnsTheDigest: a push to an
// external registry carries the credentials `docker push` would use, and
// returns the digest the registry stored; without credentials the engine
// still gets the (empty) header it requires; a failure inside the
// progress stream is an error.
func TestPushUsesDockerCredentialsAndReturnsTheDigest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": {"registry.example:5000": {"auth": "`+
		base64.StdEncoding.EncodeToString([]byte("ci:push-pass"))+`"}}}`), 0o600)
	env := func(k string) (string, bool) { return dir, k == "DOCKER_CONFIG" }
	ref := "registry.example:5000/team/shop:abc"
	creds, err := Lookup(context.Background(), ref, env)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePusher{stream: `{"status":"Preparing","id":"l1"}
{"status":"Pushing","id":"l1","progressDetail":{"current":1}}
{"status":"Pushing","id":"l1","progressDetail":{"current":2}}
{"status":"Pushed","id":"l1"}
{"status":"abc: digest: sha256:feed size: 524"}
{"aux":{"Tag":"abc","Digest":"sha256:feed","Size":524}}
`}
	var lines []string
	d, err := Push(context.Background(), p, ref, creds, func(l string) { lines = append(lines, l) })
	if err != nil || d != "sha256:feed" || p.ref != ref {
		t.Fatalf("push: %q %v (ref %q)", d, err, p.ref)
	}
	ac, err := dockerregistry.DecodeAuthConfig(p.auth)
	if err != nil || ac.Username != "ci" || ac.Password != "push-pass" {
		t.Errorf("credentials sent: %+v %v", ac, err)
	}
	if strings.Join(lines, "|") != "l1 Preparing|l1 Pushing|l1 Pushed|abc: digest: sha256:feed size: 524" {
		t.Errorf("progress %q: want each status once", lines)
	}

	anon := &fakePusher{stream: `{"aux":{"Digest":"sha256:beef"}}`}
	if _, err := Push(context.Background(), anon, "127.0.0.1:5000/shop:abc", Credentials{}, nil); err != nil || anon.auth == "" {
		t.Errorf("anonymous push: header %q, err %v", anon.auth, err)
	}
	bad := &fakePusher{stream: `{"status":"Preparing","id":"l1"}
{"errorDetail":{"message":"unauthorized: authentication required"},"error":"unauthorized: authentication required"}
`}
	if _, err := Push(context.Background(), bad, ref, creds, nil); err == nil || !strings.Contains(err.Error(), "authentication required") {
		t.Errorf("failed push: %v", err)
	}
	none := &fakePusher{stream: `{"status":"Pushed","id":"l1"}`}
	if _, err := Push(context.Background(), none, ref, creds, nil); err == nil || !strings.Contains(err.Error(), "no digest") {
		t.Errorf("push without a digest: %v", err)
	}
}
