package secretstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/secret"
	"github.com/tugdev/tug/internal/testkit"
)

// newStore is a store in a fresh state directory with its key file in
// another directory (created on first write).
func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	clock := testkit.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	keyFile := filepath.Join(dir, "home", "secret.key")
	s := Open(filepath.Join(dir, "state"), Options{Key: Key{File: keyFile}, Now: clock.Now})
	return s, keyFile
}

func set(t *testing.T, s *Store, name, env, value string) Written {
	t.Helper()
	w, err := s.Set(context.Background(), "ann", Write{Name: name, Environment: env, Value: secret.New(value)})
	if err != nil {
		t.Fatalf("set %s: %v", name, err)
	}
	return w[0]
}

func lookup(t *testing.T, s *Store, env string, pinned map[string]secret.Ref, names ...string) map[string]secret.Resolved {
	t.Helper()
	got, err := s.Lookup(context.Background(), env, names, pinned)
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	return got
}

func TestStoreKeepsVersionsAndScopes(t *testing.T) {
	t.Parallel()
	s, keyFile := newStore(t)
	if w := set(t, s, "DB_URL", "", "postgres://shared"); w.Secret.Version != 1 || !w.Changed {
		t.Fatalf("first set: %+v", w)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file not created 0600: %v %v", info, err)
	}
	set(t, s, "DB_URL", "production", "postgres://prod-1")
	if w := set(t, s, "DB_URL", "production", "postgres://prod-1"); w.Changed || w.Secret.Version != 1 {
		t.Fatalf("setting the same value made a version: %+v", w)
	}
	set(t, s, "DB_URL", "production", "postgres://prod-2")

	got := lookup(t, s, "production", nil, "DB_URL", "OTHER")
	if got["DB_URL"].Value.Reveal() != "postgres://prod-2" || got["DB_URL"].Ref != (secret.Ref{Source: "store", Scope: "production", Version: 2}) {
		t.Fatalf("production gets %v %+v", got["DB_URL"].Value.Reveal(), got["DB_URL"].Ref)
	}
	if _, ok := got["OTHER"]; ok {
		t.Fatal("a name the store lacks was answered")
	}
	if got := lookup(t, s, "staging", nil, "DB_URL"); got["DB_URL"].Value.Reveal() != "postgres://shared" || got["DB_URL"].Ref.Scope != "" {
		t.Fatalf("staging does not fall back to the shared value: %+v", got["DB_URL"].Ref)
	}
	// A release pinned to version 1 gets version 1.
	pin := map[string]secret.Ref{"DB_URL": {Source: "store", Scope: "production", Version: 1}}
	if got := lookup(t, s, "production", pin, "DB_URL"); got["DB_URL"].Value.Reveal() != "postgres://prod-1" {
		t.Fatalf("pinned v1 gives %q", got["DB_URL"].Value.Reveal())
	}

	// Removing the production value falls back to the shared one, while
	// the pinned version stays readable until pruned.
	if _, err := s.Remove(context.Background(), "DB_URL", "production", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := lookup(t, s, "production", nil, "DB_URL"); got["DB_URL"].Value.Reveal() != "postgres://shared" {
		t.Fatalf("after rm: %q", got["DB_URL"].Value.Reveal())
	}
	if got := lookup(t, s, "production", pin, "DB_URL"); got["DB_URL"].Value.Reveal() != "postgres://prod-1" {
		t.Fatal("a removed secret's versions are gone before pruning")
	}
	list, err := s.List(context.Background())
	if err != nil || len(list) != 2 || list[1].DeletedBy != "bob" || list[1].Version != 0 || len(list[1].Versions) != 2 {
		t.Fatalf("list: %+v %v", list, err)
	}
	pr, err := s.Prune(context.Background(), 1)
	if err != nil || pr.Secrets != 1 || pr.Versions != 2 {
		t.Fatalf("prune: %+v %v", pr, err)
	}
	_, err = secret.Chain{s}.Resolve(context.Background(), "production", []string{"DB_URL"}, pin)
	if !errors.Is(err, secret.ErrGone) || !strings.Contains(err.Error(), "DB_URL store v1 (production)") {
		t.Fatalf("a pruned pinned version: %v", err)
	}
}

// The store file holds no value, plain or encoded, and no key; the key
// file is outside the state directory.
func TestStoreFileHoldsNoValue(t *testing.T) {
	t.Parallel()
	s, keyFile := newStore(t)
	const value = "s3cr3t-v4lue-that-must-not-leak"
	set(t, s, "TOKEN", "", value)
	set(t, s, "TOKEN", "", value+"-2")
	raw, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(keyFile)
	for _, form := range []string{value, base64.StdEncoding.EncodeToString([]byte(value)), base64.RawURLEncoding.EncodeToString([]byte(value)), strings.TrimSpace(lastLine(string(key)))} {
		if bytes.Contains(raw, []byte(form)) {
			t.Fatalf("the store file holds %q", form)
		}
	}
	if strings.HasPrefix(keyFile, filepath.Dir(filepath.Dir(s.Path()))) {
		t.Fatal("the key is inside the state directory")
	}
	if info, _ := os.Stat(s.Path()); info.Mode().Perm() != 0o600 {
		t.Fatalf("store mode %v", info.Mode())
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// A lost or wrong key is a clear error and changes nothing.
func TestStoreRefusesALostOrWrongKey(t *testing.T) {
	t.Parallel()
	s, keyFile := newStore(t)
	set(t, s, "TOKEN", "", "value-one")
	before, _ := os.ReadFile(s.Path())
	stateDir := filepath.Dir(filepath.Dir(s.Path()))

	other, _ := newStore(t)
	set(t, other, "X", "", "other-value")
	wrongKey, _ := os.ReadFile(other.key.File)

	for _, tc := range []struct {
		name string
		key  Key
		want error
		msg  string
	}{
		{"lost", Key{File: keyFile + ".gone"}, ErrNoKey, "is encrypted to age1"},
		{"wrong file", Key{File: other.key.File}, ErrWrongKey, "is for age1"},
		{"wrong env", Key{File: keyFile, Env: lastLine(string(wrongKey))}, ErrWrongKey, "$TUG_SECRET_KEY is for age1"},
		{"not a key", Key{File: keyFile, Env: "hunter2"}, ErrWrongKey, "holds no age X25519 key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s2 := Open(stateDir, Options{Key: tc.key})
			_, err := s2.Set(context.Background(), "ann", Write{Name: "TOKEN", Value: secret.New("value-two")})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("set: %v, want %v (%q)", err, tc.want, tc.msg)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatal("the error quotes the bad key")
			}
			if _, err := s2.Lookup(context.Background(), "", []string{"TOKEN"}, nil); !errors.Is(err, tc.want) {
				t.Fatalf("lookup: %v", err)
			}
			after, _ := os.ReadFile(s.Path())
			if !bytes.Equal(before, after) {
				t.Fatal("the store changed")
			}
			if _, err := os.Stat(keyFile + ".gone"); err == nil {
				t.Fatal("a new key was made for a store that has one")
			}
		})
	}
	// A name the store does not hold needs no key (a laptop's pipeline).
	s3 := Open(stateDir, Options{Key: Key{File: keyFile + ".gone"}})
	if got, err := s3.Lookup(context.Background(), "", []string{"ONLY_IN_ENV"}, nil); err != nil || len(got) != 0 {
		t.Fatalf("lookup of a name not in the store: %v %v", got, err)
	}
	// A key file others can read is refused.
	os.Chmod(keyFile, 0o644)
	if _, err := s.Lookup(context.Background(), "", []string{"TOKEN"}, nil); !errors.Is(err, ErrWrongKey) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("open key file: %v", err)
	}
}

// A truncated or edited store is reported and left as it is; reads go on
// from the previous good copy, writes are refused.
func TestDamagedStoreIsLeftAndThePreviousCopyRead(t *testing.T) {
	t.Parallel()
	for _, damage := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"edited", func(b []byte) []byte { return bytes.Replace(b, []byte(`"version": 2`), []byte(`"version": 3`), 1) }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newStore(t)
			set(t, s, "TOKEN", "", "value-one")
			set(t, s, "TOKEN", "", "value-two")
			raw, _ := os.ReadFile(s.Path())
			bad := damage.fn(raw)
			if bytes.Equal(bad, raw) {
				t.Fatal("the damage did not apply")
			}
			os.WriteFile(s.Path(), bad, 0o600)
			var warned []string
			s.warn = func(w string) { warned = append(warned, w) }

			got := lookup(t, s, "", nil, "TOKEN")
			if got["TOKEN"].Value.Reveal() != "value-one" {
				t.Fatalf("reads from the previous copy give %q", got["TOKEN"].Value.Reveal())
			}
			if len(warned) == 0 || !strings.Contains(warned[0], "store.prev.json") {
				t.Fatalf("no warning about the damage: %v", warned)
			}
			_, err := s.Set(context.Background(), "ann", Write{Name: "TOKEN", Value: secret.New("value-three")})
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "is left as it is") {
				t.Fatalf("set on a damaged store: %v", err)
			}
			if after, _ := os.ReadFile(s.Path()); !bytes.Equal(after, bad) {
				t.Fatal("the damaged store was changed")
			}
		})
	}
}

// A ciphertext moved to another entry does not pass as its value.
func TestMovedCiphertextIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	set(t, s, "A", "", "value-of-a")
	set(t, s, "B", "", "value-of-b")
	b, raw, err := s.load(File)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw
	b.find("B", "").Versions[0].Data = b.find("A", "").Versions[0].Data
	inner, _ := json.Marshal(b)
	rewrite(t, s, inner)
	if _, err := s.Lookup(context.Background(), "", []string{"B"}, nil); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "moved from another entry") {
		t.Fatalf("moved ciphertext: %v", err)
	}
}

// rewrite stores inner as the body with a valid checksum, as someone with
// write access to the state directory could.
func rewrite(t *testing.T, s *Store, inner []byte) {
	t.Helper()
	err := s.update(context.Background(), func(b *body, _ *keyring) error {
		return json.Unmarshal(inner, b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadNamesAreRefused(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, n := range []string{"", "1ABC", "A-B", "A B"} {
		if _, err := s.Set(context.Background(), "ann", Write{Name: n, Value: secret.New("v")}); !errors.Is(err, ErrInvalid) {
			t.Errorf("name %q: %v", n, err)
		}
	}
	if _, err := s.Set(context.Background(), "ann", Write{Name: "EMPTY", Value: secret.New("")}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty value: %v", err)
	}
	if _, err := os.Stat(s.Path()); err == nil {
		t.Error("refused writes created the store")
	}
}
