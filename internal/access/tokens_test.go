package access

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/testkit"
)

func TestTokensLifecycle(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), TokensFile)
	s, err := OpenTokens(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	tok, value, err := s.Create("ci", endpoint.Deployer, 30*24*time.Hour, "ann (uid 1000)")
	if err != nil {
		t.Fatal(err)
	}
	v := value.Reveal()
	if !strings.HasPrefix(v, "tug_"+tok.ID+"_") || len(v) != 56 || tokenID(v) != tok.ID {
		t.Fatalf("token %q (id %s)", v, tok.ID)
	}
	if value.String() != "<secret>" {
		t.Fatalf("the token prints as %q", value.String())
	}
	id, err := s.Verify(v)
	if err != nil || id.Actor != "token:ci" || id.Role != endpoint.Deployer || id.Via != ViaToken || id.Token != "ci" {
		t.Fatalf("verify: %+v %v", id, err)
	}

	// Only the hash is stored: the file never holds the token, nor its
	// secret part.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), v) || strings.Contains(string(data), v[len(v)-43:]) {
		t.Fatalf("the tokens file holds the token:\n%s", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file mode %v", fi.Mode().Perm())
	}

	// A second store on the same file (the next server) knows it.
	s2, err := OpenTokens(path, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Verify(v); err != nil {
		t.Fatalf("after reopening: %v", err)
	}

	// Refusals: a changed character, another shape, nothing, expired, revoked.
	flipped := v[:len(v)-1] + string(rune('A'+(v[len(v)-1]+1)%26))
	for _, bad := range []string{flipped, "tug_" + tok.ID + "_", "not-a-token", "", strings.Repeat("x", 10000)} {
		_, err := s.Verify(bad)
		var r *Refusal
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &r) || r.Token != "" {
			t.Errorf("verify %.20q: %v", bad, err)
		}
	}
	clock.Advance(30 * 24 * time.Hour)
	if _, err := s.Verify(v); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "token ci expired") {
		t.Fatalf("expired: %v", err)
	}
	if got := s.List()[0].State(clock.Now()); got != StateExpired {
		t.Fatalf("state %s", got)
	}
	// An expired name is free again; revoking ends a token at once.
	tok2, v2, err := s.Create("ci", endpoint.Viewer, 0, "ann")
	if err != nil || tok2.ExpiresAt != nil {
		t.Fatalf("create again: %+v %v", tok2, err)
	}
	if _, _, err := s.Create("ci", endpoint.Viewer, 0, "ann"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second active token of a name: %v", err)
	}
	if _, err := s.Revoke("ci", "bob"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Verify(v2.Reveal())
	var r *Refusal
	if !errors.As(err, &r) || r.Token != "ci" || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := s.Revoke("ci", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
	if n := len(s.List()); n != 2 {
		t.Fatalf("%d tokens listed, want both, revoked and expired", n)
	}
}

func TestTokenRequestsRefused(t *testing.T) {
	t.Parallel()
	s, err := OpenTokens(filepath.Join(t.TempDir(), TokensFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		role endpoint.Role
		ttl  time.Duration
		want string
	}{
		{"", endpoint.Viewer, 0, "name"},
		{"has space", endpoint.Viewer, 0, "name"},
		{"ci", "deployr", 0, `did you mean "deployer"`},
		{"ci", "root", 0, "want one of viewer, deployer, admin"},
		{"ci", endpoint.Viewer, -time.Second, "positive"},
	} {
		if _, _, err := s.Create(c.name, c.role, c.ttl, ""); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %q %q: %v", c.name, c.role, err)
		}
	}
	if len(s.List()) != 0 {
		t.Fatal("a refused request made a token")
	}
}

// A tokens file that cannot be read stops the server with an error that
// names it, instead of silently dropping every token; the file is left
// as it was.
func TestDamagedTokensFileIsReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"truncated": `{"version":1,"tokens":[{"name":"ci","ro`,
		"bad hash":  `{"version":1,"tokens":[{"name":"ci","role":"admin","id":"abcdefgh","hash":"zz"}]}`,
		"bad role":  `{"version":1,"tokens":[{"name":"ci","role":"root","id":"abcdefgh","hash":"` + strings.Repeat("00", 32) + `"}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		os.WriteFile(path, []byte(content), 0o600)
		_, err := OpenTokens(path, nil)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v", name, err)
		}
		if data, _ := os.ReadFile(path); string(data) != content {
			t.Errorf("%s: the file was changed", name)
		}
	}
}

func TestBearer(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": ""} {
		h := map[string][]string{"Authorization": {header}}
		got, ok := Bearer(h)
		if !ok || got != want {
			t.Errorf("%q: %q %v", header, got, ok)
		}
	}
	if _, ok := Bearer(map[string][]string{}); ok {
		t.Error("no header")
	}
}

// The socket's peer is named by its uid as the kernel reports it.
func TestSocketPeerIsTheConnectingUser(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := net.Dial("unix", sock); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := SocketPeer(c)
	uid := strconv.Itoa(os.Getuid())
	if id.Role != endpoint.Admin || id.Via != ViaSocket || !strings.Contains(id.Actor, "uid "+uid) {
		t.Fatalf("peer %+v, want uid %s", id, uid)
	}
}
