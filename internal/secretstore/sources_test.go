package secretstore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// TestOverridesWinOverEverySource: an override (a drill's scratch
// database URL) wins over the store and the environment; other names
// still come from them.
func TestOverridesWinOverEverySource(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "config"), "DB_URL": "postgres://production", "API_KEY": "from-env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	src := NewSources(SourcesOptions{StateDir: filepath.Join(dir, "state"), ConfigDir: dir, LookupEnv: lookup,
		Overrides: map[string]secret.Value{"DB_URL": secret.New("postgres://scratch")}})
	if err := src.SetConfig(&config.Config{}); err != nil {
		t.Fatal(err)
	}
	set(t, src.Store(), "DB_URL", "", "postgres://production-in-the-store")
	for _, env := range []string{"", "staging"} {
		got, err := src.Resolve(context.Background(), env, []string{"DB_URL", "API_KEY"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v := got["DB_URL"].Value.Reveal(); v != "postgres://scratch" {
			t.Errorf("env %q: DB_URL = %q, want the override", env, v)
		}
		if v := got["API_KEY"].Value.Reveal(); v != "from-env" {
			t.Errorf("env %q: API_KEY = %q, want the environment's", env, v)
		}
	}
	plain := NewSources(SourcesOptions{StateDir: filepath.Join(dir, "state"), ConfigDir: dir, LookupEnv: lookup})
	plain.SetConfig(&config.Config{})
	if got, err := plain.Values(context.Background(), []string{"DB_URL"}); err != nil || got["DB_URL"].Reveal() != "postgres://production-in-the-store" {
		t.Errorf("without overrides: %v, %v", got, err)
	}
}
