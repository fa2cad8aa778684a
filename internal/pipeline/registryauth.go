package pipeline

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
	"github.com/docker/docker/api/types/registry"
)

// dockerHubAuthKey is the key Docker Hub's credentials have in the docker
// CLI's config file and credential helpers.
const dockerHubAuthKey = "https://index.docker.io/v1/"

// registryCreds is what the pull of one image authenticates with.
type registryCreds struct {
	// header is the encoded X-Registry-Auth value; empty for anonymous.
	header string
	// source says where the credentials came from, for the job's log.
	source string
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

// registryAuth finds the credentials `docker pull` would use for ref:
// the registry's credHelpers entry, else credsStore, else its auths entry
// in $DOCKER_CONFIG/config.json (~/.docker/config.json). No file or no
// entry means an anonymous pull. Errors never carry a credential.
func (d *Docker) registryAuth(ctx context.Context, ref string) (registryCreds, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return registryCreds{}, fmt.Errorf("image %q: %w", ref, err)
	}
	host := reference.Domain(named)
	key := host
	if host == "docker.io" {
		key = dockerHubAuthKey
	}
	path := d.dockerConfigPath()
	if path == "" {
		return registryCreds{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return registryCreds{}, nil
	} else if err != nil {
		return registryCreds{}, fmt.Errorf("docker config: %w", err)
	}
	var cfg dockerConfigFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return registryCreds{}, fmt.Errorf("docker config %s: %w", path, err)
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
			return registryCreds{}, err
		}
		return encodeCreds(ac, "credential helper docker-credential-"+helper)
	}
	for k, a := range cfg.Auths {
		if k != key && authKeyHost(k) != host {
			continue
		}
		ac := registry.AuthConfig{ServerAddress: key, IdentityToken: a.IdentityToken}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return registryCreds{}, fmt.Errorf("docker config %s: auths.%s.auth is not base64", path, k)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return registryCreds{}, fmt.Errorf("docker config %s: auths.%s.auth is not user:password", path, k)
			}
			ac.Username, ac.Password = user, pass
		}
		return encodeCreds(ac, path)
	}
	return registryCreds{}, nil
}

// dockerConfigPath is the docker CLI's config file: $DOCKER_CONFIG or
// ~/.docker, then config.json; "" when neither can be told.
func (d *Docker) dockerConfigPath() string {
	if dir, ok := d.lookupEnv("DOCKER_CONFIG"); ok && dir != "" {
		return filepath.Join(dir, "config.json")
	}
	if home, ok := d.lookupEnv("HOME"); ok && home != "" {
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
func credentialHelperGet(ctx context.Context, name, server string) (registry.AuthConfig, bool, error) {
	prog := "docker-credential-" + name
	cmd := exec.CommandContext(ctx, prog, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// The helpers answer "credentials not found" on stdout.
		msg := strings.TrimSpace(stderr.String() + " " + stdout.String())
		if strings.Contains(strings.ToLower(msg), "credentials not found") {
			return registry.AuthConfig{}, false, nil
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return registry.AuthConfig{}, false, fmt.Errorf("credential helper %s: %w", prog, err)
		}
		// Only stderr is quoted: stdout may hold a credential.
		return registry.AuthConfig{}, false, fmt.Errorf("credential helper %s failed (%v): %s", prog, err, strings.TrimSpace(stderr.String()))
	}
	var out struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return registry.AuthConfig{}, false, fmt.Errorf("credential helper %s: its answer is not JSON", prog)
	}
	ac := registry.AuthConfig{ServerAddress: server}
	if out.Username == "<token>" {
		ac.IdentityToken = out.Secret
	} else {
		ac.Username, ac.Password = out.Username, out.Secret
	}
	return ac, true, nil
}

func encodeCreds(ac registry.AuthConfig, source string) (registryCreds, error) {
	h, err := registry.EncodeAuthConfig(ac)
	if err != nil {
		return registryCreds{}, fmt.Errorf("encode registry credentials: %w", err)
	}
	return registryCreds{header: h, source: source}, nil
}
