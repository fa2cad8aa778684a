package secretstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/tugdev/tug/internal/secret"
)

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// Sealed files: names in clear, one line per value, so changing a value
// changes one line; the server takes changed entries in as versions.
func TestSealedFilesDiffByLineAndAreTakenIn(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	server, err := s.Recipient() // creates the server's key
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	repo := t.TempDir()
	path := SealedPath(repo, "production")
	recipients := []string{server, other.Recipient().String()}
	for name, v := range map[string]string{"DB_URL": "postgres://sealed-1", "API_KEY": "key-sealed-1"} {
		if err := Seal(path, "production", name, secret.New(v), recipients); err != nil {
			t.Fatal(err)
		}
	}
	before := lines(t, path)
	if !strings.HasPrefix(before[len(before)-2], "API_KEY=") || !strings.HasPrefix(before[len(before)-1], "DB_URL=") {
		t.Fatalf("names are not in clear, in order: %v", before)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), "sealed-1") {
		t.Fatal("a sealed file holds a value")
	}

	taken, err := s.TakeSealed(context.Background(), repo, []string{"staging", "production"})
	if err != nil || len(taken) != 1 || len(taken[0].Written) != 2 {
		t.Fatalf("take: %+v %v", taken, err)
	}
	got := lookup(t, s, "production", nil, "DB_URL")
	if got["DB_URL"].Value.Reveal() != "postgres://sealed-1" || got["DB_URL"].Ref.Version != 1 {
		t.Fatalf("taken in: %q %+v", got["DB_URL"].Value.Reveal(), got["DB_URL"].Ref)
	}
	if taken, err = s.TakeSealed(context.Background(), repo, []string{"production"}); err != nil || len(taken) != 0 {
		t.Fatalf("an unchanged sealed file was taken again: %+v %v", taken, err)
	}

	// Changing one value is a one-line diff and one new version.
	if err := Seal(path, "production", "DB_URL", secret.New("postgres://sealed-2"), recipients); err != nil {
		t.Fatal(err)
	}
	after := lines(t, path)
	changed := 0
	for i := range after {
		if after[i] != before[i] {
			changed++
			if !strings.HasPrefix(after[i], "DB_URL=") {
				t.Errorf("line %d changed: %s", i, after[i])
			}
		}
	}
	if changed != 1 {
		t.Fatalf("%d lines changed", changed)
	}
	if taken, err = s.TakeSealed(context.Background(), repo, []string{"production"}); err != nil || len(taken[0].Written) != 1 {
		t.Fatalf("take after a change: %+v %v", taken, err)
	}
	list, _ := s.List(context.Background())
	for _, x := range list {
		if x.Name == "DB_URL" {
			if cur, _ := x.Current(); cur.Version != 2 || cur.Origin != OriginSealed || cur.CreatedBy != "sealed secrets/production.age" {
				t.Errorf("DB_URL after the change: %+v", cur)
			}
		}
	}

	// An entry sealed only for someone else is named, not fatal.
	if err := Seal(path, "production", "THEIRS", secret.New("not-for-the-server"), []string{other.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	if taken, err = s.TakeSealed(context.Background(), repo, []string{"production"}); err != nil || len(taken[0].NotForUs) != 1 {
		t.Fatalf("an entry not for us: %+v %v", taken, err)
	}

	// An entry copied under another name does not unseal as its value.
	b, _ := os.ReadFile(path)
	var api, db string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "API_KEY="); ok {
			api = v
		}
		if v, ok := strings.CutPrefix(l, "DB_URL="); ok {
			db = v
		}
	}
	os.WriteFile(path, []byte(strings.Replace(string(b), "DB_URL="+db, "DB_URL="+api, 1)), 0o644)
	if _, err := s.TakeSealed(context.Background(), repo, []string{"production"}); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "another name") {
		t.Fatalf("a copied entry: %v", err)
	}

	if err := Seal(filepath.Join(repo, "x.age"), "production", "A", secret.New("v"), nil); !errors.Is(err, ErrSealed) || !strings.Contains(err.Error(), "secrets.recipients") {
		t.Fatalf("no recipients: %v", err)
	}
}

// tug validate (server.Check) refuses a recipient that looks like an age
// key but is not one, positioned.
func TestCheckConfigRefusesABadRecipient(t *testing.T) {
	t.Parallel()
	id, _ := age.GenerateX25519Identity()
	good := id.Recipient().String()
	cfg := testConfig(t, "version: 1\nsecrets:\n  recipients: ["+good+", age1notakey]\n")
	errs := CheckConfig(cfg)
	if len(errs) != 1 || errs[0].Path != "secrets.recipients[1]" || errs[0].Pos.Line != 3 || !strings.Contains(errs[0].Msg, "not an age X25519 public key") {
		t.Fatalf("%v", errs)
	}
}
