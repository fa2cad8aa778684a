package secretstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// Every holds each value something run on this machine could see: the
// store's in every environment and every kept version, the local file's
// whole, and the environment's values of the names the config uses.
func TestEveryValueIsThereToMask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": home, "SESSION_KEY": "from-the-environment"}
	src := NewSources(SourcesOptions{StateDir: filepath.Join(dir, ".tug"), ConfigDir: dir,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	cfg := testConfig(t, serviceYAML)
	if err := src.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, w := range []Write{
		{Name: "DB_URL", Environment: "production", Value: secret.New("production-only-1")},
		{Name: "DB_URL", Environment: "production", Value: secret.New("production-only-2")},
		{Name: "UNUSED", Environment: "staging", Value: secret.New("named-by-no-service")},
	} {
		if _, err := src.Store().Set(ctx, "ann", w); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, secret.LocalFile), []byte("LOCAL_ONLY=from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range src.Every(ctx, cfg) {
		got = append(got, v.Reveal())
	}
	for _, want := range []string{"production-only-1", "production-only-2", "named-by-no-service", "from-the-file", "from-the-environment"} {
		if !slices.Contains(got, want) {
			t.Errorf("%q is not among the values to mask", want)
		}
	}
}

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
