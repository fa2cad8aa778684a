package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// TokensFile is where a server keeps its tokens, in its state directory:
// names, roles and hashes, never a token itself.
const TokensFile = "tokens.json"

// Errors of the token store; the api room maps each to a code.
var (
	// ErrUnauthorized: no token, or one that is unknown, malformed,
	// revoked or expired (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalid: a bad token name, role or lifetime, or a name in use (400).
	ErrInvalid = errors.New("invalid token request")
	// ErrNotFound: no active token of that name (404).
	ErrNotFound = errors.New("no such token")
)

// Refusal is why a presented token was not accepted. It wraps
// ErrUnauthorized, and names the token only when the presented value
// was one tug made (a revoked or expired one); nothing of the presented
// value itself is kept.
type Refusal struct {
	// Token is the name of the token presented, "" when it is not one of
	// this server's.
	Token  string
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

// Unwrap makes errors.Is(err, ErrUnauthorized) hold.
func (r *Refusal) Unwrap() error { return ErrUnauthorized }

// Token is one API token as tug keeps it. The token itself is shown once,
// when it is made; tug stores only its SHA-256 (the token holds 256
// random bits, so a fast hash is as strong as a slow one would be).
type Token struct {
	Name string        `json:"name"`
	Role endpoint.Role `json:"role"`
	// ID is the token's public part: tokens read tug_ID_SECRET.
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// Token states.
const (
	StateActive  = "active"
	StateExpired = "expired"
	StateRevoked = "revoked"
)

// State is the token's state at now.
func (t Token) State(now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return StateRevoked
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return StateExpired
	}
	return StateActive
}

// stored is a token as the file holds it.
type stored struct {
	Token
	Hash string `json:"hash"` // hex SHA-256 of the whole token
	sum  [sha256.Size]byte
}

type tokensFile struct {
	Version int      `json:"version"`
	Tokens  []stored `json:"tokens"`
}

// Tokens is a server's store of API tokens, kept in one file written
// atomically on every change. Safe for concurrent use; one server owns
// the file (the state directory's lock).
type Tokens struct {
	path string
	now  func() time.Time

	mu   sync.RWMutex
	list []stored
	byID map[string]int
}

// dummy is compared against when a presented token names no known ID, so
// a miss costs what a hit costs.
var dummy = sha256.Sum256([]byte("tug: no such token"))

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,62}$`)

// OpenTokens reads the tokens file at path (none yet is an empty store).
// A file that cannot be read or parsed is an error that names it: a
// server must not start with its tokens silently forgotten. now is the
// clock (nil: time.Now).
func OpenTokens(path string, now func() time.Time) (*Tokens, error) {
	if now == nil {
		now = time.Now
	}
	t := &Tokens{path: path, now: now, byID: map[string]int{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	var f tokensFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokens file %s is damaged (%v): restore it from a backup, or remove it and create the tokens again", path, err)
	}
	for i := range f.Tokens {
		s := &f.Tokens[i]
		sum, err := decodeSum(s.Hash)
		if err != nil || s.ID == "" || s.Name == "" || !validRole(s.Role) {
			return nil, fmt.Errorf("tokens file %s: entry %d (%q) is damaged: restore the file from a backup, or remove it and create the tokens again", path, i+1, s.Name)
		}
		s.sum = sum
	}
	t.install(f.Tokens)
	return t, nil
}

func decodeSum(h string) (sum [sha256.Size]byte, err error) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != sha256.Size {
		return sum, errors.New("bad hash")
	}
	copy(sum[:], b)
	return sum, nil
}

func validRole(r endpoint.Role) bool { return slices.Contains(endpoint.Roles(), r) }

// install makes list the store's content; call with mu held (or before
// the store is shared).
func (t *Tokens) install(list []stored) {
	t.list = list
	t.byID = make(map[string]int, len(list))
	for i, s := range list {
		t.byID[s.ID] = i
	}
}

// save writes list to the file, then installs it: a failed write changes
// nothing. Call with mu held for writing.
func (t *Tokens) save(list []stored) error {
	data, err := json.MarshalIndent(tokensFile{Version: 1, Tokens: list}, "", "  ")
	if err != nil {
		return err
	}
	if err := kit.WriteFile(t.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	t.install(list)
	return nil
}

// Create makes a token called name with role, valid for ttl (0: until
// revoked), and returns it with its value, which exists nowhere else:
// the store keeps only its hash. The name must not be that of another
// active token.
func (t *Tokens) Create(name string, role endpoint.Role, ttl time.Duration, by string) (Token, secret.Value, error) {
	switch {
	case !tokenName.MatchString(name):
		return Token{}, secret.Value{}, fmt.Errorf("%w: name %q: use letters, digits, '.', '_', '@' or '-' (at most 63, starting with a letter or digit)", ErrInvalid, name)
	case !validRole(role):
		return Token{}, secret.Value{}, fmt.Errorf("%w: role %q: want one of viewer, deployer, admin%s", ErrInvalid, role, kit.DidYouMean(string(role), roleNames()))
	case ttl < 0:
		return Token{}, secret.Value{}, fmt.Errorf("%w: expiry %s: want a positive duration, or none", ErrInvalid, ttl)
	}
	value, id, err := newTokenValue()
	if err != nil {
		return Token{}, secret.Value{}, err
	}
	now := t.now().UTC().Truncate(time.Second)
	tok := Token{Name: name, Role: role, ID: id, CreatedAt: now, CreatedBy: by}
	if ttl > 0 {
		exp := now.Add(ttl)
		tok.ExpiresAt = &exp
	}
	sum := sha256.Sum256([]byte(value))
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.list {
		if s.Name == name && s.State(now) == StateActive {
			return Token{}, secret.Value{}, fmt.Errorf("%w: a token named %q exists; revoke it first (`tug token revoke %s`) or choose another name", ErrInvalid, name, name)
		}
		if s.ID == id { // 40 random bits: never in practice
			return Token{}, secret.Value{}, errors.New("tokens: a new token's ID collided; try again")
		}
	}
	list := append(slices.Clone(t.list), stored{Token: tok, Hash: hex.EncodeToString(sum[:]), sum: sum})
	if err := t.save(list); err != nil {
		return Token{}, secret.Value{}, err
	}
	return tok, secret.New(value), nil
}

func roleNames() []string {
	var out []string
	for _, r := range endpoint.Roles() {
		out = append(out, string(r))
	}
	return out
}

// newTokenValue makes tug_ID_SECRET: ID is 40 random bits (base32), the
// public part that names the token in logs; SECRET is 256.
func newTokenValue() (value, id string, err error) {
	var idb [5]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", "", err
	}
	id = strings.ToLower(base32.StdEncoding.EncodeToString(idb[:]))
	return "tug_" + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:]), id, nil
}

// tokenID is the public part of a presented token, "" when it does not
// have the shape of one.
func tokenID(v string) string {
	rest, ok := strings.CutPrefix(v, "tug_")
	if !ok {
		return ""
	}
	id, sec, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 8 || len(sec) != 43 {
		return ""
	}
	return id
}

// List is every token, revoked and expired ones included, oldest first.
func (t *Tokens) List() []Token {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Token, len(t.list))
	for i, s := range t.list {
		out[i] = s.Token
	}
	return out
}

// Revoke ends the active token called name at once: the next request
// that presents it is refused. The entry stays, revoked, so the audit
// log can name a revoked token that is still used.
func (t *Tokens) Revoke(name, by string) (Token, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now().UTC().Truncate(time.Second)
	for i, s := range t.list {
		if s.Name != name || s.State(now) != StateActive {
			continue
		}
		list := slices.Clone(t.list)
		list[i].RevokedAt, list[i].RevokedBy = &now, by
		if err := t.save(list); err != nil {
			return Token{}, err
		}
		return list[i].Token, nil
	}
	return Token{}, fmt.Errorf("%w: no active token named %q (see `tug token ls --all`)", ErrNotFound, name)
}

// maxTokenLen bounds what is hashed: a real token is 56 bytes.
const maxTokenLen = 256

// Verify checks a presented token and returns the identity it carries.
// The presented value is hashed and compared with the stored hash in
// constant time, and a value naming no known token is compared with a
// dummy hash, so how long a refusal takes says nothing about how close
// the value was. A refusal is a *Refusal wrapping ErrUnauthorized.
func (t *Tokens) Verify(presented string) (Identity, error) {
	if len(presented) > maxTokenLen {
		presented = presented[:maxTokenLen]
	}
	sum := sha256.Sum256([]byte(presented))
	id := tokenID(presented)
	t.mu.RLock()
	want, i, known := dummy, 0, false
	if id != "" {
		i, known = t.byID[id]
	}
	var tok Token
	if known {
		want, tok = t.list[i].sum, t.list[i].Token
	}
	t.mu.RUnlock()
	if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !known {
		return Identity{}, &Refusal{Reason: "not a valid token of this server"}
	}
	switch now := t.now(); tok.State(now) {
	case StateRevoked:
		return Identity{}, &Refusal{Token: tok.Name, Reason: fmt.Sprintf("token %s was revoked on %s", tok.Name, tok.RevokedAt.Format(time.RFC3339))}
	case StateExpired:
		return Identity{}, &Refusal{Token: tok.Name, Reason: fmt.Sprintf("token %s expired on %s", tok.Name, tok.ExpiresAt.Format(time.RFC3339))}
	}
	return Identity{Actor: "token:" + tok.Name, Role: tok.Role, Via: ViaToken, Token: tok.Name}, nil
}

// Bearer is the token of an Authorization header ("Bearer TOKEN", the
// scheme in any case); ok is false without one.
func Bearer(h http.Header) (token string, ok bool) {
	v := h.Get("Authorization")
	if v == "" {
		return "", false
	}
	scheme, tok, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true // present, but not a bearer token: refused as bad
	}
	return strings.TrimSpace(tok), true
}
