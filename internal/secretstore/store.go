// Package secretstore keeps tug's secrets: an encrypted store of
// versioned values in the state directory (age, X25519, one ciphertext
// per version, the key kept outside the directory), sealed files that can
// be committed to git, HashiCorp Vault / OpenBao KV v2 as a backend,
// rotation that rolls the services using a secret onto its new value,
// and the API operations of `tug secret`.
package secretstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// Errors of the store. Each changes nothing.
var (
	// ErrInvalid: a bad name, environment or request.
	ErrInvalid = errors.New("invalid secret request")
	// ErrNotFound: no such secret (or version).
	ErrNotFound = errors.New("secret not found")
	// ErrDamaged: the store file does not read back as it was written
	// (truncated, edited, corrupted). It is left as it is.
	ErrDamaged = errors.New("secret store damaged")
)

// Origins of a version: how it came to be.
const (
	OriginSet      = "set"
	OriginImport   = "import"
	OriginRotate   = "rotate"
	OriginGenerate = "generate"
	OriginSealed   = "sealed"
)

// Dir is the store's directory under the state directory; File and
// PrevFile are in it.
const (
	Dir      = "secrets"
	File     = "store.json"
	PrevFile = "store.prev.json"
	lockFile = "store.lock"
	format   = "tug-secrets/1"
)

// Version is one kept value of a secret, without the value.
type Version struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Origin is how the version came: set, import, rotate, generate,
	// sealed.
	Origin string `json:"origin"`
}

// Secret is what the store shows of one secret: names, versions, who and
// when; never a value.
type Secret struct {
	Name string `json:"name"`
	// Environment is the environment the value is for; "" means every
	// environment without a value of its own.
	Environment string `json:"environment,omitempty"`
	// Version is the current version (0 once removed).
	Version int `json:"version"`
	// Versions are every kept version, oldest first.
	Versions []Version `json:"versions"`
	// DeletedAt and DeletedBy say who removed it; its versions stay for
	// the releases deployed with them, until pruned.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	DeletedBy string     `json:"deleted_by,omitempty"`
}

// Current is the current version's record; false when removed.
func (s Secret) Current() (Version, bool) {
	if s.DeletedAt != nil || len(s.Versions) == 0 {
		return Version{}, false
	}
	return s.Versions[len(s.Versions)-1], true
}

// entry is a secret as stored.
type entry struct {
	Name        string     `json:"name"`
	Environment string     `json:"environment,omitempty"`
	Versions    []*version `json:"versions"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
	DeletedBy   string     `json:"deleted_by,omitempty"`
	// Sealed is the digest of the sealed-file entry this secret last took
	// its value from, so an unchanged sealed file adds no version.
	Sealed string `json:"sealed,omitempty"`
}

// version is one value as stored: its age ciphertext (base64 in JSON).
type version struct {
	Version
	Data []byte `json:"data"`
}

// body is the store's content; the file holds it with a checksum.
type body struct {
	// Recipient is the public key every value is encrypted to, so a wrong
	// key is told at once, before anything is decrypted.
	Recipient string   `json:"recipient,omitempty"`
	Secrets   []*entry `json:"secrets"`
}

// doc is the file: its format, the SHA-256 of body as written, and body.
type doc struct {
	Format string          `json:"format"`
	Sum    string          `json:"sum"`
	Body   json.RawMessage `json:"body"`
}

// Options configure a Store.
type Options struct {
	// Key is where the key is. Required.
	Key Key
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Warn hears of a damaged store being read from its previous copy.
	Warn func(string)
}

// Store is the encrypted secret store of one state directory. It keeps
// nothing in memory: every call reads the file (small) and every change
// writes it whole, atomically, under a file lock, keeping the copy before
// it, so the server and a CLI working on the directory directly never
// lose each other's writes. Safe for concurrent use.
type Store struct {
	dir  string
	now  func() time.Time
	warn func(string)

	mu  sync.Mutex
	key Key
}

var _ secret.Source = (*Store)(nil)

// Open returns the store under stateDir; it reads nothing yet.
func Open(stateDir string, o Options) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Warn == nil {
		o.Warn = func(string) {}
	}
	return &Store{dir: filepath.Join(stateDir, Dir), key: o.Key, now: o.Now, warn: o.Warn}
}

// SetKey changes where the key is looked for (secrets.key_file changed).
func (s *Store) SetKey(k Key) {
	s.mu.Lock()
	s.key = k
	s.mu.Unlock()
}

func (s *Store) keyNow() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// Path is the store's file.
func (s *Store) Path() string { return filepath.Join(s.dir, File) }

// KeyFile is where the key is looked for ($TUG_SECRET_KEY when set).
func (s *Store) KeyFile() string { return s.keyNow().where() }

// read loads the store for reading: the file, or, when it is damaged,
// its previous good copy (with a warning); a missing file is empty.
func (s *Store) read() (*body, error) {
	b, _, err := s.load(File)
	if errors.Is(err, ErrDamaged) {
		prev, _, perr := s.load(PrevFile)
		if perr != nil || prev == nil {
			return nil, fmt.Errorf("%w; no good previous copy either (%s)", err, filepath.Join(s.dir, PrevFile))
		}
		s.warn(fmt.Sprintf("%v; reading the previous good copy %s until it is repaired", err, filepath.Join(s.dir, PrevFile)))
		return prev, nil
	}
	if err != nil {
		return nil, err
	}
	if b == nil {
		b = &body{}
	}
	return b, nil
}

// load reads and checks one file; nil without error when it does not
// exist. raw is the file's bytes as read.
func (s *Store) load(name string) (b *body, raw []byte, err error) {
	path := filepath.Join(s.dir, name)
	raw, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("secret store: %w", err)
	}
	damaged := func(why string) error {
		return fmt.Errorf("%w: %s %s; it is left as it is", ErrDamaged, path, why)
	}
	var d doc
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, nil, damaged("does not parse (" + err.Error() + ")")
	}
	if d.Format != format {
		return nil, nil, damaged(fmt.Sprintf("has format %q, want %q", d.Format, format))
	}
	// The body is summed compact, as it was when written.
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.Body); err != nil {
		return nil, nil, damaged("does not parse (" + err.Error() + ")")
	}
	sum := sha256.Sum256(compact.Bytes())
	if d.Sum != hex.EncodeToString(sum[:]) {
		return nil, nil, damaged("does not match its checksum (changed outside tug, or corrupted)")
	}
	b = &body{}
	if err := json.Unmarshal(d.Body, b); err != nil {
		return nil, nil, damaged("does not parse (" + err.Error() + ")")
	}
	return b, raw, nil
}

// update changes the store under its lock: fn mutates the body (and may
// need the key through ids). The file before is kept as PrevFile, then
// the new one replaces it; on any error nothing is written.
func (s *Store) update(ctx context.Context, fn func(b *body, k *keyring) error) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	lock, err := kit.LockFile(ctx, filepath.Join(s.dir, lockFile), true)
	if err != nil {
		return fmt.Errorf("secret store lock: %w", err)
	}
	defer lock.Unlock()
	b, raw, err := s.load(File)
	if err != nil {
		return fmt.Errorf("%w; nothing changes until it is repaired (the copy before the last change is %s)", err, filepath.Join(s.dir, PrevFile))
	}
	if b == nil {
		b = &body{}
	}
	kr := &keyring{s: s, b: b}
	if err := fn(b, kr); err != nil {
		return err
	}
	if kr.created != "" {
		s.warn("created a secret key at " + kr.created + " (back it up: without it the secret store cannot be read)")
	}
	slices.SortFunc(b.Secrets, func(x, y *entry) int {
		return strings.Compare(x.Name+"\x00"+x.Environment, y.Name+"\x00"+y.Environment)
	})
	inner, err := json.Marshal(b)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(inner)
	out, err := json.MarshalIndent(doc{Format: format, Sum: hex.EncodeToString(sum[:]), Body: inner}, "", " ")
	if err != nil {
		return err
	}
	if raw != nil {
		if err := kit.WriteFile(filepath.Join(s.dir, PrevFile), raw, 0o600); err != nil {
			return fmt.Errorf("secret store: keeping the previous copy: %w", err)
		}
	}
	if err := kit.WriteFile(filepath.Join(s.dir, File), append(out, '\n'), 0o600); err != nil {
		return fmt.Errorf("secret store: %w", err)
	}
	return nil
}

// keyring gives update the key when it needs one, checked against the
// store's recipient; a store without one gets the key's (created if
// there is none, unless it comes from the environment).
type keyring struct {
	s       *Store
	b       *body
	id      *age.X25519Identity
	created string
}

func (k *keyring) identity() (*age.X25519Identity, error) {
	if k.id != nil {
		return k.id, nil
	}
	id, err := k.s.identityFor(k.b)
	if key := k.s.keyNow(); errors.Is(err, ErrNoKey) && k.b.Recipient == "" && key.Env == "" {
		if id, err = key.create(k.s.now()); err == nil {
			k.created = key.File
		}
	}
	if err != nil {
		return nil, err
	}
	if k.b.Recipient == "" {
		k.b.Recipient = id.Recipient().String()
	}
	k.id = id
	return id, nil
}

// identityFor reads the key and checks it is the one b is encrypted to.
func (s *Store) identityFor(b *body) (*age.X25519Identity, error) {
	key := s.keyNow()
	id, ok, err := key.identity()
	if err != nil {
		return nil, err
	}
	if !ok {
		if b.Recipient == "" {
			return nil, fmt.Errorf("%w: no key at %s (set %s or secrets.key_file)", ErrNoKey, key.where(), KeyEnv)
		}
		return nil, fmt.Errorf("%w: the secret store %s is encrypted to %s and there is no key at %s; "+
			"restore the key file (or set %s, or secrets.key_file): without it the values cannot be read",
			ErrNoKey, filepath.Join(s.dir, File), b.Recipient, key.where(), KeyEnv)
	}
	if b.Recipient != "" && id.Recipient().String() != b.Recipient {
		return nil, fmt.Errorf("%w: the key at %s is for %s, but the secret store %s is encrypted to %s",
			ErrWrongKey, key.where(), id.Recipient(), filepath.Join(s.dir, File), b.Recipient)
	}
	return id, nil
}

// Recipient is the public key of the store's key, the one to list in
// secrets.recipients so sealed files can be read by this server. A new
// store without a key gets one, as its first value would.
func (s *Store) Recipient() (string, error) {
	b, err := s.read()
	if err != nil {
		return "", err
	}
	id, err := s.identityFor(b)
	if key := s.keyNow(); errors.Is(err, ErrNoKey) && b.Recipient == "" && key.Env == "" {
		if id, err = key.create(s.now()); err == nil {
			s.warn("created a secret key at " + key.File + " (back it up: without it the secret store cannot be read)")
		}
	}
	if err != nil {
		return "", err
	}
	return id.Recipient().String(), nil
}

// find is the entry of name in env ("" shared) exactly.
func (b *body) find(name, env string) *entry {
	for _, e := range b.Secrets {
		if e.Name == name && e.Environment == env {
			return e
		}
	}
	return nil
}

// resolve is the entry env gets name from: its own, else the shared one;
// removed ones count as absent.
func (b *body) resolve(name, env string) *entry {
	if env != "" {
		if e := b.find(name, env); e != nil && e.DeletedAt == nil && len(e.Versions) > 0 {
			return e
		}
	}
	if e := b.find(name, ""); e != nil && e.DeletedAt == nil && len(e.Versions) > 0 {
		return e
	}
	return nil
}

func (e *entry) current() *version {
	if len(e.Versions) == 0 {
		return nil
	}
	return e.Versions[len(e.Versions)-1]
}

func (e *entry) version(n int) *version {
	for _, v := range e.Versions {
		if v.Version.Version == n {
			return v
		}
	}
	return nil
}

func (e *entry) public() Secret {
	out := Secret{Name: e.Name, Environment: e.Environment, DeletedAt: e.DeletedAt, DeletedBy: e.DeletedBy}
	for _, v := range e.Versions {
		out.Versions = append(out.Versions, v.Version)
	}
	if out.Versions == nil {
		out.Versions = []Version{}
	}
	if c := e.current(); c != nil && e.DeletedAt == nil {
		out.Version = c.Version.Version
	}
	return out
}

// binding is what each ciphertext starts with, so a value moved to
// another name, environment or version does not decrypt as theirs.
func binding(name, env string, n int) string {
	return "tug-secret/1\x00" + name + "\x00" + env + "\x00" + strconv.Itoa(n) + "\x00"
}

func seal(id *age.X25519Identity, name, env string, n int, value string) ([]byte, error) {
	var out bytes.Buffer
	w, err := age.Encrypt(&out, id.Recipient())
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, binding(name, env, n)+value); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (s *Store) open(id *age.X25519Identity, e *entry, v *version) (secret.Value, error) {
	r, err := age.Decrypt(bytes.NewReader(v.Data), id)
	if err == nil {
		var b []byte
		if b, err = io.ReadAll(r); err == nil {
			text, ok := strings.CutPrefix(string(b), binding(e.Name, e.Environment, v.Version.Version))
			if !ok {
				return secret.Value{}, fmt.Errorf("%w: %s: %s version %d is not the value stored for it (moved from another entry)", ErrDamaged, s.Path(), label(e.Name, e.Environment), v.Version.Version)
			}
			return secret.New(text), nil
		}
	}
	return secret.Value{}, fmt.Errorf("%w: %s: %s version %d does not decrypt: %v", ErrDamaged, s.Path(), label(e.Name, e.Environment), v.Version.Version, err)
}

// label names a secret in messages: "DB_URL (production)", "DB_URL (every environment)".
func label(name, env string) string {
	if env == "" {
		return name + " (every environment)"
	}
	return name + " (" + env + ")"
}

// Kind implements secret.Source.
func (s *Store) Kind() string { return secret.FromStore }

// Lookup implements secret.Source: env's own value of each name, else
// the shared one; a pinned name gets its pinned version. It needs the key
// only when the store holds one of names.
func (s *Store) Lookup(_ context.Context, env string, names []string, pinned map[string]secret.Ref) (map[string]secret.Resolved, error) {
	out := map[string]secret.Resolved{}
	b, err := s.read()
	if err != nil {
		return nil, err
	}
	type pick struct {
		e *entry
		v *version
	}
	picks := map[string]pick{}
	for _, n := range names {
		if ref, ok := pinned[n]; ok {
			if e := b.find(n, ref.Scope); e != nil {
				if v := e.version(ref.Version); v != nil {
					picks[n] = pick{e, v}
				}
			}
			continue
		}
		if e := b.resolve(n, env); e != nil {
			picks[n] = pick{e, e.current()}
		}
	}
	if len(picks) == 0 {
		return out, nil
	}
	id, err := s.identityFor(b)
	if err != nil {
		return nil, err
	}
	for n, p := range picks {
		v, err := s.open(id, p.e, p.v)
		if err != nil {
			return nil, err
		}
		out[n] = secret.Resolved{Value: v, Ref: secret.Ref{Source: secret.FromStore, Scope: p.e.Environment, Version: p.v.Version.Version}}
	}
	return out, nil
}

// List returns every secret, removed ones included, by name then
// environment. It needs no key.
func (s *Store) List(context.Context) ([]Secret, error) {
	b, err := s.read()
	if err != nil {
		return nil, err
	}
	out := make([]Secret, 0, len(b.Secrets))
	for _, e := range b.Secrets {
		out = append(out, e.public())
	}
	return out, nil
}

// Values returns every value the store keeps: each kept version of
// every secret in every environment, removed ones included, for masking.
// With no store there are none; without its key, an error.
func (s *Store) Values(context.Context) ([]secret.Value, error) {
	b, err := s.read()
	if err != nil || len(b.Secrets) == 0 {
		return nil, err
	}
	id, err := s.identityFor(b)
	if err != nil {
		return nil, err
	}
	var out []secret.Value
	for _, e := range b.Secrets {
		for _, v := range e.Versions {
			val, err := s.open(id, e, v)
			if err != nil {
				return out, err
			}
			out = append(out, val)
		}
	}
	return out, nil
}

// Write is one value to store.
type Write struct {
	Name        string
	Environment string
	Value       secret.Value
	Origin      string
	// Sealed is the digest of the sealed entry the value comes from.
	Sealed string
}

// Written is what a Write did: the secret after it, and whether a new
// version was made (a value equal to the current one makes none).
type Written struct {
	Secret  Secret `json:"secret"`
	Changed bool   `json:"changed"`
}

// Set stores each write as a new version (unless equal to the current
// value), all in one atomic change; who is recorded with them.
func (s *Store) Set(ctx context.Context, who string, writes ...Write) ([]Written, error) {
	for _, w := range writes {
		if err := checkName(w.Name); err != nil {
			return nil, err
		}
		if w.Value.Reveal() == "" {
			return nil, fmt.Errorf("%w: %s: the value is empty", ErrInvalid, w.Name)
		}
	}
	out := make([]Written, len(writes))
	err := s.update(ctx, func(b *body, k *keyring) error {
		id, err := k.identity()
		if err != nil {
			return err
		}
		for i, w := range writes {
			e := b.find(w.Name, w.Environment)
			if e == nil {
				e = &entry{Name: w.Name, Environment: w.Environment}
				b.Secrets = append(b.Secrets, e)
			}
			if c := e.current(); c != nil && e.DeletedAt == nil {
				old, err := s.open(id, e, c)
				if err != nil {
					return err
				}
				if old.Reveal() == w.Value.Reveal() {
					if w.Sealed != "" {
						e.Sealed = w.Sealed
					}
					out[i] = Written{Secret: e.public()}
					continue
				}
			}
			n := 1
			if c := e.current(); c != nil {
				n = c.Version.Version + 1
			}
			data, err := seal(id, e.Name, e.Environment, n, w.Value.Reveal())
			if err != nil {
				return err
			}
			origin := w.Origin
			if origin == "" {
				origin = OriginSet
			}
			e.Versions = append(e.Versions, &version{Version: Version{Version: n, CreatedAt: s.now().UTC(), CreatedBy: who, Origin: origin}, Data: data})
			e.DeletedAt, e.DeletedBy = nil, ""
			if w.Sealed != "" {
				e.Sealed = w.Sealed
			}
			out[i] = Written{Secret: e.public(), Changed: true}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Reveal returns the value env gets for name (its own, else the shared
// one) at version (0: the current one), with the secret's record.
func (s *Store) Reveal(_ context.Context, name, env string, version int) (secret.Value, Secret, Version, error) {
	if err := checkName(name); err != nil {
		return secret.Value{}, Secret{}, Version{}, err
	}
	b, err := s.read()
	if err != nil {
		return secret.Value{}, Secret{}, Version{}, err
	}
	e := b.resolve(name, env)
	if e == nil && version > 0 {
		if e = b.find(name, env); e == nil {
			e = b.find(name, "")
		}
	}
	if e == nil {
		return secret.Value{}, Secret{}, Version{}, notFound(name, env)
	}
	v := e.current()
	if version > 0 {
		if v = e.version(version); v == nil {
			return secret.Value{}, Secret{}, Version{}, fmt.Errorf("%w: %s has no version %d (kept: %s)", ErrNotFound, label(e.Name, e.Environment), version, versionList(e))
		}
	}
	id, err := s.identityFor(b)
	if err != nil {
		return secret.Value{}, Secret{}, Version{}, err
	}
	val, err := s.open(id, e, v)
	if err != nil {
		return secret.Value{}, Secret{}, Version{}, err
	}
	return val, e.public(), v.Version, nil
}

// Remove removes name's value for env ("" the shared one): deploys no
// longer find it, while its versions stay for the releases deployed with
// them (a rollback), until pruned. It needs no key.
func (s *Store) Remove(ctx context.Context, name, env, who string) (Secret, error) {
	if err := checkName(name); err != nil {
		return Secret{}, err
	}
	var out Secret
	err := s.update(ctx, func(b *body, _ *keyring) error {
		e := b.find(name, env)
		if e == nil || e.DeletedAt != nil {
			return notFound(name, env)
		}
		now := s.now().UTC()
		e.DeletedAt, e.DeletedBy, e.Sealed = &now, who, ""
		out = e.public()
		return nil
	})
	return out, err
}

// Pruned is what Prune removed.
type Pruned struct {
	// Versions counts the versions removed; Secrets the removed secrets
	// that went entirely.
	Versions int `json:"versions"`
	Secrets  int `json:"secrets"`
}

// Prune keeps the newest keep versions of each secret and drops the
// rest, and every version of removed secrets. A release deployed with a
// dropped version can no longer be started again with it. It needs no
// key.
func (s *Store) Prune(ctx context.Context, keep int) (Pruned, error) {
	if keep < 1 {
		return Pruned{}, fmt.Errorf("%w: keep %d: want at least 1", ErrInvalid, keep)
	}
	var out Pruned
	err := s.update(ctx, func(b *body, _ *keyring) error {
		kept := b.Secrets[:0]
		for _, e := range b.Secrets {
			if e.DeletedAt != nil {
				out.Versions += len(e.Versions)
				out.Secrets++
				continue
			}
			if n := len(e.Versions) - keep; n > 0 {
				out.Versions += n
				e.Versions = e.Versions[n:]
			}
			kept = append(kept, e)
		}
		b.Secrets = kept
		return nil
	})
	return out, err
}

func checkName(name string) error {
	if !kit.ValidEnvName(name) {
		return fmt.Errorf("%w: %q is not a secret name: use letters, digits and _, not starting with a digit (it becomes an environment variable)", ErrInvalid, name)
	}
	return nil
}

func notFound(name, env string) error {
	if env == "" {
		return fmt.Errorf("%w: %s is not in the store", ErrNotFound, name)
	}
	return fmt.Errorf("%w: %s is not in the store for %s (nor for every environment)", ErrNotFound, name, env)
}

func versionList(e *entry) string {
	var s []string
	for _, v := range e.Versions {
		s = append(s, strconv.Itoa(v.Version.Version))
	}
	return strings.Join(s, ", ")
}
