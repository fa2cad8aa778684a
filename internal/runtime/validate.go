package runtime

import (
	"fmt"

	"github.com/tugdev/tug/internal/kit"
)

// validID checks that an instance ID can name a directory and a Docker
// container: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 bytes.
func validID(id string) error {
	if id == "" {
		return fmt.Errorf("spec.id: empty")
	}
	if len(id) > 128 {
		return fmt.Errorf("spec.id %q: longer than 128 bytes", id)
	}
	for i, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '_' || r == '.' || r == '-')
		if !ok {
			return fmt.Errorf("spec.id %q: character %q at %d (allowed: letters, digits, and _ . - after the first)", id, r, i)
		}
	}
	return nil
}

// validEnvName checks an environment variable name from a spec.
func validEnvName(where, k string) error {
	if err := kit.CheckEnvName(k); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// validEnv checks the variable names of a spec's env and secrets.
func validEnv(spec Spec) error {
	for k := range spec.Env {
		if err := validEnvName("instance "+spec.ID+": spec.env", k); err != nil {
			return err
		}
	}
	for k := range spec.Secrets {
		if err := validEnvName("instance "+spec.ID+": spec.secrets", k); err != nil {
			return err
		}
	}
	return nil
}
