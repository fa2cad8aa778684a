package secretstore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
