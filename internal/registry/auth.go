// Package registry reaches the Docker engine (NewClient, one setup for
// every room) and finds the credentials a pull from an image registry
// uses, the way the docker CLI finds them, for the Docker job executor
// and the Docker runtime alike.
package registry

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	dockerregistry "github.com/docker/docker/api/types/registry"
)

// dockerHubAuthKey is the key Docker Hub's credentials have in the docker
// CLI's config file and credential helpers.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// Credentials are what the pull of one image authenticates with.
type Credentials struct {
	// Header is the encoded X-Registry-Auth value (the Docker client's
	// PullOptions.RegistryAuth); empty for an anonymous pull.
	Header string
	// Source says where they came from (a file or a helper), for logs;
	// never a credential.
	Source string
}

// dockerConfigFile is the part of the docker CLI's config.json a pull
// needs.
type dockerConfigFile struct {
	Auths map[string]struct {
		Auth          string `json:"auth"`
		IdentityToken string `json:"identitytoken"`
	} `json:"auths"`
	CredsStore  string            `json:"credsStore"`
	CredHelpers map[string]string `json:"credHelpers"`
}

// Lookup finds the credentials `docker pull` would use for ref: the
// registry's credHelpers entry, else credsStore, else its auths entry in
// $DOCKER_CONFIG/config.json (~/.docker/config.json), with the
// environment read through lookupEnv. No file or no entry means an
// anonymous pull. Errors never carry a credential.
func Lookup(ctx context.Context, ref string, lookupEnv func(string) (string, bool)) (Credentials, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return Credentials{}, fmt.Errorf("image %q: %w", ref, err)
	}
	host := reference.Domain(named)
	key := host
	if host == "docker.io" {
		key = dockerHubAuthKey
	}
	path := dockerConfigPath(lookupEnv)
	if path == "" {
		return Credentials{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Credentials{}, nil
	} else if err != nil {
		return Credentials{}, fmt.Errorf("docker config: %w", err)
	}
	var cfg dockerConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return Credentials{}, fmt.Errorf("docker config %s: %w", path, err)
	}
	helper := cfg.CredHelpers[host]
	if helper == "" && key != host {
		helper = cfg.CredHelpers[key]
	}
	if helper == "" {
		helper = cfg.CredsStore
	}
	if helper != "" {
		ac, found, err := credentialHelperGet(ctx, helper, key)
		if err != nil || !found {
			return Credentials{}, err
		}
		return encodeCreds(ac, "credential helper docker-credential-"+helper)
	}
	for k, a := range cfg.Auths {
		if k != key && authKeyHost(k) != host {
			continue
		}
		ac := dockerregistry.AuthConfig{ServerAddress: key, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return Credentials{}, fmt.Errorf("docker config %s: auths.%s.auth is not base64", path, k)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return Credentials{}, fmt.Errorf("docker config %s: auths.%s.auth is not user:password", path, k)
			}
			ac.Username, ac.Password = user, pass
		}
		return encodeCreds(ac, path)
	}
	return Credentials{}, nil
}

// dockerConfigPath is the docker CLI's config file: $DOCKER_CONFIG or
// ~/.docker, then config.json; "" when neither can be told.
func dockerConfigPath(lookupEnv func(string) (string, bool)) string {
	if dir, ok := lookupEnv("DOCKER_CONFIG"); ok && dir != "" {
		return filepath.Join(dir, "config.json")
	}
	if home, ok := lookupEnv("HOME"); ok && home != "" {
		return filepath.Join(home, ".docker", "config.json")
	}
	return ""
}

// authKeyHost is the host of a config.json auths key, which may be a bare
// host or a URL ("https://registry.example/v1/").
func authKeyHost(k string) string {
	if _, rest, ok := strings.Cut(k, "://"); ok {
		k = rest
	}
	host, _, _ := strings.Cut(k, "/")
	return host
}

// credentialHelperGet asks docker-credential-NAME for server's
// credentials (the docker credential helper protocol: server on stdin,
// JSON on stdout). found is false when the helper has none.
func credentialHelperGet(ctx context.Context, name, server string) (dockerregistry.AuthConfig, bool, error) {
	prog := "docker-credential-" + name
	cmd := exec.CommandContext(ctx, prog, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The helpers answer "credentials not found" on stdout.
		msg := strings.TrimSpace(stderr.String() + " " + stdout.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return dockerregistry.AuthConfig{}, false, nil
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return dockerregistry.AuthConfig{}, false, fmt.Errorf("credential helper %s: %w", prog, err)
		}
		// Only stderr is quoted: stdout may hold a credential.
		return dockerregistry.AuthConfig{}, false, fmt.Errorf("credential helper %s failed (%v): %s", prog, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return dockerregistry.AuthConfig{}, false, fmt.Errorf("credential helper %s: its answer is not JSON", prog)
	}
	ac := dockerregistry.AuthConfig{ServerAddress: server}
	if out.Username == "<token>" {
		ac.IdentityToken = out.Secret
	} else {
		ac.Username, ac.Password = out.Username, out.Secret
	}
	return ac, true, nil
}

func encodeCreds(ac dockerregistry.AuthConfig, source string) (Credentials, error) {
	h, err := dockerregistry.EncodeAuthConfig(ac)
	if err != nil {
		return Credentials{}, fmt.Errorf("encode registry credentials: %w", err)
	}
	return Credentials{Header: h, Source: source}, nil
}
