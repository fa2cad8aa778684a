package server

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/testkit"
)

// lostHistory is a state directory whose tug.db was emptied while it
// held two release copies and a running instance's state.
func lostHistory(t *testing.T) (dir, state string) {
	t.Helper()
	dir = t.TempDir()
	state = filepath.Join(dir, ".tug")
	for _, p := range []string{"releases/r1/bin", "releases/r2/bin", "releases/r3.tmp", "instances/web-staging-r2-1"} {
		if err := os.MkdirAll(filepath.Join(state, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range map[string]string{
		store.FileName:                          "",
		"instances/web-staging-r2-1/state.json": `{"spec":{"id":"web-staging-r2-1"}}`,
	} {
		if err := os.WriteFile(filepath.Join(state, p), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, state
}

// A server does not start a fresh history on an emptied tug.db beside the
// releases and instances it recorded: it says what it found and what
// --force would do, and changes nothing.
func TestServerRefusesAnEmptiedHistory(t *testing.T) {
	t.Parallel()
	dir, state := lostHistory(t)
	opts := Options{ConfigPath: writeConfig(t, dir, minimalYAML), StateDir: state, ProxyCommand: []string{"/nonexistent/tug", "proxy"}}
	err := Run(context.Background(), opts)
	if !errors.Is(err, ErrStateInconsistent) {
		t.Fatalf("Run on an emptied tug.db: %v", err)
	}
	for _, want := range []string{"tug.db is empty (0 bytes)", "2 release copies it does not record (r1, r2)", "the state of 1 instances", "--force", "moved to " + filepath.Join(state, lostFound)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(state, store.FileName)); err != nil || fi.Size() != 0 {
		t.Fatalf("tug.db changed: %v %v", fi.Size(), err)
	}
	for _, id := range []string{"r1", "r2"} {
		if _, err := os.Stat(filepath.Join(state, "releases", id)); err != nil {
			t.Fatalf("release copy %s moved without --force: %v", id, err)
		}
	}
}

// Deleted outright, or replaced by an older copy, is the same loss.
func TestServerRefusesAHistoryBehindItsReleases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, state := lostHistory(t)
	os.Remove(filepath.Join(state, store.FileName))
	o := Options{StateDir: state, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	if err := checkHistory(ctx, o); !errors.Is(err, ErrStateInconsistent) || !strings.Contains(err.Error(), "tug.db is missing") {
		t.Fatalf("missing tug.db: %v", err)
	}
	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRelease(ctx, &store.Release{Service: "web", Environment: "staging", Status: "live"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	err = checkHistory(ctx, o)
	if !errors.Is(err, ErrStateInconsistent) || !strings.Contains(err.Error(), "records releases up to r1") || !strings.Contains(err.Error(), "(r2)") {
		t.Fatalf("older tug.db: %v", err)
	}
}

// --force starts a new history, with the unrecorded release copies moved
// aside so no new release reuses them.
func TestServerForceMovesUnrecordedReleasesAside(t *testing.T) {
	t.Parallel()
	_, state := lostHistory(t)
	logger, logs := testkit.Logger()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Options{StateDir: state, Force: true, Logger: logger, Now: func() time.Time { return at }}
	if err := checkHistory(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(state, lostFound, "releases-20300102T030405Z")
	for _, id := range []string{"r1", "r2"} {
		if _, err := os.Stat(filepath.Join(aside, id, "bin")); err != nil {
			t.Errorf("%s not moved aside: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(state, "releases", id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still in releases/: %v", id, err)
		}
	}
	if !strings.Contains(logs.String(), "--force") || !strings.Contains(logs.String(), "moved the release copies") {
		t.Errorf("logs:\n%s", logs)
	}
	// Recovery then keeps the instance the proxy routes to, in a new
	// deploy record (or stops it): the next start needs no --force.
	st, err := store.Open(context.Background(), state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutDeployRecord(context.Background(), "state", "web", "staging", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	o.Force = false
	if err := checkHistory(context.Background(), o); err != nil {
		t.Fatalf("after --force: %v", err)
	}
}

// A truly fresh project, and one whose history records what it holds,
// start as always.
func TestServerStartsOnAFreshOrConsistentStateDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	state := filepath.Join(t.TempDir(), ".tug")
	o := Options{StateDir: state, Logger: slog.New(slog.DiscardHandler), Now: time.Now}
	if err := checkHistory(ctx, o); err != nil {
		t.Fatalf("no state directory: %v", err)
	}
	os.MkdirAll(filepath.Join(state, "instances"), 0o700)
	os.WriteFile(filepath.Join(state, store.FileName), nil, 0o600)
	if err := checkHistory(ctx, o); err != nil {
		t.Fatalf("empty tug.db, nothing else: %v", err)
	}
	os.Remove(filepath.Join(state, store.FileName))
	st, err := store.Open(ctx, state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.CreateRelease(ctx, &store.Release{Service: "web", Environment: "staging", Status: "live"})
	st.Close()
	os.MkdirAll(filepath.Join(state, "releases", "r1"), 0o700)
	os.MkdirAll(filepath.Join(state, "instances", "web-staging-r1-1"), 0o700)
	os.WriteFile(filepath.Join(state, "instances", "web-staging-r1-1", "state.json"), []byte("{}"), 0o600)
	if err := checkHistory(ctx, o); err != nil {
		t.Fatalf("consistent: %v", err)
	}
}
