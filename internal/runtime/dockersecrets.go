package runtime

import (
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/tugdev/tug/internal/kit"
)

// Where a container finds the secrets entrypoint and its file.
const (
	secretsInitPath = "/.tug/init"
	secretsFilePath = "/.tug/secrets.env"
)

// SecretEnvCommand is the tug subcommand a container's entrypoint runs
// when secrets go through a file: `tug secret-env FILE -- ARGV...` sets
// them in its environment and execs ARGV (see DockerOptions.SecretsInit).
const SecretEnvCommand = "secret-env"

// secretsPath is instance id's secrets file on the host.
func (d *Docker) secretsPath(id string) string {
	return filepath.Join(d.stateDir, "secrets", id+".env")
}

// secretsByFile reports whether spec's secrets go through a file.
func (d *Docker) secretsByFile(spec Spec) bool {
	return len(spec.Secrets) > 0 && d.secretsInit != "" && d.stateDir != ""
}

// secretsEntry is how a container whose secrets come through a file
// starts: its entrypoint, command and mounts.
type secretsEntry struct {
	entrypoint, cmd []string
	mounts          []mount.Mount
}

func (e *secretsEntry) apply(cfg *container.Config, hc *container.HostConfig) {
	cfg.Entrypoint, cfg.Cmd = e.entrypoint, e.cmd
	hc.Mounts = append(hc.Mounts, e.mounts...)
}

// secretsFile writes spec's secrets to their file (KEY=base64 lines,
// readable by the container's user, in a directory only tug's user can
// enter) and returns how to run the image's entrypoint through `tug
// secret-env`, so the container's configuration holds no secret value.
func (d *Docker) secretsFile(ctx context.Context, spec Spec, imageID string) (*secretsEntry, error) {
	img, err := d.cli.ImageInspect(ctx, imageID)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", spec.Image, err)
	}
	var argv []string
	if img.Config != nil {
		argv = append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("image %s has no entrypoint or command to run", spec.Image)
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(spec.Secrets)) {
		b.WriteString(k + "=" + base64.StdEncoding.EncodeToString([]byte(spec.Secrets[k].Reveal())) + "\n")
	}
	p := d.secretsPath(spec.ID)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", spec.ID, err)
	}
	if err := kit.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", spec.ID, err)
	}
	if err := os.Chmod(p, 0o444); err != nil {
		return nil, fmt.Errorf("secrets of %s: %w", spec.ID, err)
	}
	return &secretsEntry{
		entrypoint: []string{secretsInitPath, SecretEnvCommand, secretsFilePath, "--"},
		cmd:        argv,
		mounts: []mount.Mount{
			{Type: mount.TypeBind, Source: d.secretsInit, Target: secretsInitPath, ReadOnly: true},
			{Type: mount.TypeBind, Source: p, Target: secretsFilePath, ReadOnly: true},
		},
	}, nil
}

// ParseSecretsFile reads a secrets file as secretsFile writes it (KEY=
// base64 lines) named name, in file order. An error names the line
// ("name:3: ..."), never its value.
func ParseSecretsFile(name string, data []byte) ([][2]string, error) {
	var out [][2]string
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		val, err := base64.StdEncoding.DecodeString(v)
		if !ok || k == "" || err != nil {
			return nil, fmt.Errorf("%s:%d: want KEY=base64", name, n+1)
		}
		out = append(out, [2]string{k, string(val)})
	}
	return out, nil
}

// dropSecrets removes the secrets file of an instance that is gone.
func (d *Docker) dropSecrets(id string) {
	d.masks.drop(id)
	if d.stateDir != "" {
		_ = os.Remove(d.secretsPath(id))
	}
}
