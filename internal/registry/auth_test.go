package registry

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dockerregistry "github.com/docker/docker/api/types/registry"
)

// lookup runs Lookup with DOCKER_CONFIG=dir and returns the decoded
// header (nil when anonymous) and where it came from.
func lookup(t *testing.T, dir, ref string) (*dockerregistry.AuthConfig, string, error) {
	t.Helper()
	env := func(k string) (string, bool) {
		if k == "DOCKER_CONFIG" {
			return dir, true
		}
		return "", false
	}
	c, err := Lookup(context.Background(), ref, env)
	if err != nil || c.Header == "" {
		return nil, c.Source, err
	}
	ac, err := dockerregistry.DecodeAuthConfig(c.Header)
	if err != nil {
		t.Fatal(err)
	}
	return ac, c.Source, nil
}

func writeDockerConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPullUsesDockerConfigAuths(t *testing.T) {
	t.Parallel()
	basic := base64.StdEncoding.EncodeToString([]byte("ci:s3cr3t-pass"))
	dir := writeDockerConfig(t, `{"auths": {
		"registry.example:5000": {"auth": "`+basic+`"},
		"https://index.docker.io/v1/": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("hub:hubpass"))+`"},
		"https://ghcr.example/v1/": {"identitytoken": "tok"}
	}}`)
	for _, tt := range []struct {
		ref, user, pass, token, server string
	}{
		{"registry.example:5000/team/app:1", "ci", "s3cr3t-pass", "", "registry.example:5000"},
		{"alpine:3", "hub", "hubpass", "", dockerHubAuthKey},
		{"ghcr.example/org/tool", "", "", "tok", "ghcr.example"},
	} {
		ac, source, err := lookup(t, dir, tt.ref)
		if err != nil {
			t.Fatalf("%s: %v", tt.ref, err)
		}
		if ac == nil || ac.Username != tt.user || ac.Password != tt.pass || ac.IdentityToken != tt.token || ac.ServerAddress != tt.server {
			t.Errorf("%s: auth %+v", tt.ref, ac)
		}
		if source != filepath.Join(dir, "config.json") {
			t.Errorf("%s: source %q, want the config file", tt.ref, source)
		}
	}
	// A registry with no entry pulls anonymously.
	if ac, _, err := lookup(t, dir, "quay.example/x/y"); err != nil || ac != nil {
		t.Errorf("unknown registry: auth %+v, err %v", ac, err)
	}
	// No config file at all is anonymous too.
	if ac, _, err := lookup(t, t.TempDir(), "alpine:3"); err != nil || ac != nil {
		t.Errorf("no config: auth %+v, err %v", ac, err)
	}
}

func TestPullUsesCredentialHelpers(t *testing.T) {
	bin := t.TempDir()
	// A helper in the docker credential helper protocol: it knows one
	// server, answers a token for another, and fails for a third.
	helper := `#!/bin/sh
read server
case "$server" in
registry.example:5000) echo '{"ServerURL":"registry.example:5000","Username":"bot","Secret":"helper-pass"}' ;;
tok.example) echo '{"ServerURL":"tok.example","Username":"<token>","Secret":"id-token"}' ;;
broken.example) echo "keychain locked" >&2; exit 3 ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeDockerConfig(t, `{"credsStore": "fake", "credHelpers": {"other.example": "missing"},
		"auths": {"registry.example:5000": {"auth": "`+base64.StdEncoding.EncodeToString([]byte("ignored:ignored"))+`"}}}`)

	ac, source, err := lookup(t, dir, "registry.example:5000/app")
	if err != nil || ac == nil || ac.Username != "bot" || ac.Password != "helper-pass" {
		t.Fatalf("helper creds: %+v, err %v", ac, err)
	}
	if source != "credential helper docker-credential-fake" {
		t.Errorf("source %q", source)
	}
	if ac, _, err := lookup(t, dir, "tok.example/app"); err != nil || ac == nil || ac.IdentityToken != "id-token" || ac.Username != "" {
		t.Errorf("token answer: %+v, err %v", ac, err)
	}
	if ac, _, err := lookup(t, dir, "nothing.example/app"); err != nil || ac != nil {
		t.Errorf("not found: %+v, err %v", ac, err)
	}
	_, _, err = lookup(t, dir, "broken.example/app")
	if err == nil || !strings.Contains(err.Error(), "keychain locked") {
		t.Errorf("failing helper: err %v", err)
	}
	_, _, err = lookup(t, dir, "other.example/app")
	if err == nil || !strings.Contains(err.Error(), "docker-credential-missing") {
		t.Errorf("missing helper: err %v", err)
	}
}

func TestPullRejectsBadDockerConfig(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"not json":     `{"auths": `,
		"not base64":   `{"auths": {"r.example": {"auth": "%%%"}}}`,
		"no separator": `{"auths": {"r.example": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("secretonly")) + `"}}}`,
	} {
		dir := writeDockerConfig(t, body)
		_, _, err := lookup(t, dir, "r.example/app")
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "config.json")) {
			t.Errorf("%s: err %v, want one naming the file", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secretonly") {
			t.Errorf("%s: error holds the credential: %v", name, err)
		}
	}
}
