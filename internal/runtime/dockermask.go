package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/tugdev/tug/internal/secret"
)

// A container's output is kept by the engine, not by tug, and every
// reader of it (the logs room storing it, a deploy's failure report, `tug
// logs`) gets it through LogsSince or Logs: those mask the container's own
// secret values, so no line leaves the runtime unmasked. A runtime that
// adopts a container finds the values again where the container gets
// them: its secrets file (with DockerOptions.SecretsInit) or, by the names
// in LabelSecrets, its environment.

// LabelSecrets lists the names of a container's secrets, comma-separated
// (names only: values never go into labels).
const LabelSecrets = "tug.secrets"

// secretNames is the LabelSecrets value of spec.
func secretNames(spec Spec) string {
	return strings.Join(slices.Sorted(maps.Keys(spec.Secrets)), ",")
}

// maskers holds, per instance, the masker of its secrets.
type maskers struct {
	mu sync.Mutex
	m  map[string]*secret.Masker
}

func (ms *maskers) get(id string) (*secret.Masker, bool) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.m[id]
	return m, ok
}

func (ms *maskers) set(id string, secrets map[string]secret.Value) *secret.Masker {
	m, _ := secret.NewMasker(slices.Collect(maps.Values(secrets))...)
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.m == nil {
		ms.m = map[string]*secret.Masker{}
	}
	ms.m[id] = m
	return m
}

func (ms *maskers) drop(id string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.m, id)
}

// masker returns the masker of in's secrets, finding their values for an
// adopted container. Without a way to find them it fails, and the caller
// must not hand out the lines.
func (d *Docker) masker(ctx context.Context, in *ctrInst) (*secret.Masker, error) {
	if m, ok := d.masks.get(in.id); ok {
		return m, nil
	}
	d.mu.Lock()
	names := in.labels[LabelSecrets]
	d.mu.Unlock()
	if names == "" {
		return d.masks.set(in.id, nil), nil
	}
	vals, err := d.secretsOfFile(in.id)
	if errors.Is(err, fs.ErrNotExist) {
		vals, err = d.secretsOfEnv(ctx, in.cid, strings.Split(names, ","))
	}
	if err != nil {
		return nil, err
	}
	return d.masks.set(in.id, vals), nil
}

// secretsOfFile reads the values of instance id's secrets file.
func (d *Docker) secretsOfFile(id string) (map[string]secret.Value, error) {
	if d.stateDir == "" {
		return nil, fs.ErrNotExist
	}
	b, err := os.ReadFile(d.secretsPath(id))
	if err != nil {
		return nil, err
	}
	kvs, err := ParseSecretsFile(d.secretsPath(id), b)
	if err != nil {
		return nil, err
	}
	out := map[string]secret.Value{}
	for _, kv := range kvs {
		out[kv[0]] = secret.New(kv[1])
	}
	return out, nil
}

// secretsOfEnv reads the named variables of a container's environment.
func (d *Docker) secretsOfEnv(ctx context.Context, cid string, names []string) (map[string]secret.Value, error) {
	insp, err := d.cli.ContainerInspect(ctx, cid)
	if err != nil {
		return nil, err
	}
	out := map[string]secret.Value{}
	if insp.Config == nil {
		return out, nil
	}
	for _, kv := range insp.Config.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && slices.Contains(names, k) {
			out[k] = secret.New(v)
		}
	}
	return out, nil
}

// maskLines masks in's lines in place.
func (d *Docker) maskLines(ctx context.Context, in *ctrInst, n int, text func(i int) *string) error {
	m, err := d.masker(ctx, in)
	if err != nil {
		return fmt.Errorf("logs of instance %s: find its secrets to mask: %w", in.id, err)
	}
	for i := range n {
		t := text(i)
		*t = m.Mask(*t)
	}
	return nil
}
