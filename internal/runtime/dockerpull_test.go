package runtime

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
)

// pullEngine has no image until it is pulled; any other call panics (nil
// embedded client), proving ResolveImage makes none.
type pullEngine struct {
	client.APIClient
	stream string
	have   map[string]bool
	pulls  []string
	auths  []string
}

func (e *pullEngine) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (image.InspectResponse, error) {
	if !e.have[ref] {
		return image.InspectResponse{}, fmt.Errorf("no such image: %s: %w", ref, cerrdefs.ErrNotFound)
	}
	return image.InspectResponse{ID: "sha256:pulled"}, nil
}

func (e *pullEngine) ImagePull(_ context.Context, ref string, o image.PullOptions) (io.ReadCloser, error) {
	e.pulls = append(e.pulls, ref)
	e.auths = append(e.auths, o.RegistryAuth)
	if !strings.Contains(e.stream, "error") {
		e.have[ref] = true
	}
	return io.NopCloser(strings.NewReader(e.stream)), nil
}

// A service image the engine lacks is pulled, with the registry's
// credentials from the docker config, before the release pins its ID.
func TestDockerResolvePullsMissingImage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	basic := base64.StdEncoding.EncodeToString([]byte("deploy:pw-123"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"registry.example":{"auth":"`+basic+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { return dir, k == "DOCKER_CONFIG" }
	const ref = "registry.example/shop/web:1.4"

	e := &pullEngine{stream: `{"status":"Pulling"}` + "\n", have: map[string]bool{}}
	d, err := NewDocker(DockerOptions{Client: e, Owner: "t", LookupEnv: env})
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.ResolveImage(context.Background(), ref)
	if err != nil || id != "sha256:pulled" {
		t.Fatalf("ResolveImage = %q, %v", id, err)
	}
	ac, err := registry.DecodeAuthConfig(e.auths[0])
	if len(e.pulls) != 1 || err != nil || ac.Username != "deploy" || ac.Password != "pw-123" {
		t.Fatalf("pulls %v, auth %+v %v", e.pulls, ac, err)
	}
	// Present now: no second pull.
	if _, err := d.ResolveImage(context.Background(), ref); err != nil || len(e.pulls) != 1 {
		t.Fatalf("second resolve: %v, pulls %v", err, e.pulls)
	}

	// A pull the registry refuses is an ErrImageNotFound naming the image
	// and the registry's reason.
	e = &pullEngine{stream: `{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}` + "\n", have: map[string]bool{}}
	d, _ = NewDocker(DockerOptions{Client: e, Owner: "t", LookupEnv: env})
	_, err = d.ResolveImage(context.Background(), ref)
	if !errors.Is(err, ErrImageNotFound) || !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "manifest unknown") || strings.Contains(err.Error(), "pw-123") {
		t.Fatalf("refused pull: %v", err)
	}
}
