package pipeline

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/registry"
)

// noDockerConfig is an environment with no docker CLI config.
func noDockerConfig(string) (string, bool) { return "", false }

// A job's pull: true sends the credentials the docker config holds for
// the image's registry, and the log says where they came from, never
// what they are.
func TestPullSendsRegistryCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	basic := base64.StdEncoding.EncodeToString([]byte("ci:s3cr3t-pass"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": {"registry.example:5000": {"auth": "`+basic+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &pullClient{}
	env := func(k string) (string, bool) { return dir, k == "DOCKER_CONFIG" }
	d, err := NewDocker(DockerOptions{Client: c, LookupEnv: env})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := d.ensureImage(context.Background(), "registry.example:5000/team/app:1", true, &out); err != nil {
		t.Fatal(err)
	}
	if len(c.auths) != 1 || c.auths[0] == "" {
		t.Fatalf("pull auth %q", c.auths)
	}
	ac, err := registry.DecodeAuthConfig(c.auths[0])
	if err != nil || ac.Username != "ci" || ac.Password != "s3cr3t-pass" || ac.ServerAddress != "registry.example:5000" {
		t.Fatalf("auth %+v, %v", ac, err)
	}
	if log := out.String(); !strings.Contains(log, "credentials from "+filepath.Join(dir, "config.json")) || strings.Contains(log, "s3cr3t") {
		t.Errorf("log %q", log)
	}
	// A bad docker config fails the pull, naming the image.
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ensureImage(context.Background(), "registry.example:5000/team/app:1", true, &out); err == nil || !strings.Contains(err.Error(), `pull image "registry.example:5000/team/app:1"`) {
		t.Errorf("bad config: %v", err)
	}
}
