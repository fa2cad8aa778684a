package secretstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"filippo.io/age"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// SealedDir is the directory beside tug.yaml holding sealed files, one
// per environment: SealedDir/ENV.age.
const SealedDir = "secrets"

// ErrSealed: a sealed file that cannot be read or written as asked.
var ErrSealed = errors.New("sealed secrets")

// SealedPath is the sealed file of env beside tug.yaml in configDir.
func SealedPath(configDir, env string) string {
	return filepath.Join(configDir, SealedDir, env+".age")
}

// Sealed is a sealed file: names in clear, each value its own age
// ciphertext (base64 on one line) to the recipients, so a change of one
// value is a one-line diff and the file is safe to commit.
type Sealed struct {
	Environment string
	Recipients  []string
	// Entries are the sealed values by name.
	Entries map[string]string
}

// ReadSealed parses a sealed file; a missing file is an empty one.
func ReadSealed(path, env string) (*Sealed, error) {
	s := &Sealed{Environment: env, Entries: map[string]string{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSealed, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if r, ok := strings.CutPrefix(line, "# recipients:"); ok {
			s.Recipients = strings.Fields(strings.ReplaceAll(r, ",", " "))
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok || !kit.ValidEnvName(name) {
			return nil, fmt.Errorf("%w: %s:%d: want NAME=SEALED-VALUE", ErrSealed, path, n)
		}
		if _, err := base64.StdEncoding.DecodeString(val); err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %s: the sealed value is not base64 (edited by hand?)", ErrSealed, path, n, name)
		}
		s.Entries[name] = val
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrSealed, path, err)
	}
	return s, nil
}

// sealedBinding starts each sealed plaintext, so an entry copied to
// another name or environment does not unseal as its value.
func sealedBinding(env, name string) string {
	return "tug-sealed/1\x00" + env + "\x00" + name + "\x00"
}

// Seal writes value as name's entry of env's sealed file at path,
// encrypted to recipients; the other entries stay as they are. The file
// is replaced atomically.
func Seal(path, env, name string, value secret.Value, recipients []string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if value.Reveal() == "" {
		return fmt.Errorf("%w: %s: the value is empty", ErrInvalid, name)
	}
	if len(recipients) == 0 {
		return fmt.Errorf("%w: no recipients: list the public keys that may read sealed files in secrets.recipients (`tug secret key` prints this machine's)", ErrSealed)
	}
	var rs []age.Recipient
	for _, r := range recipients {
		x, err := age.ParseX25519Recipient(r)
		if err != nil {
			return fmt.Errorf("%w: recipient %q is not an age X25519 public key", ErrSealed, r)
		}
		rs = append(rs, x)
	}
	s, err := ReadSealed(path, env)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	w, err := age.Encrypt(&out, rs...)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, sealedBinding(env, name)+value.Reveal()); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	s.Entries[name] = base64.StdEncoding.EncodeToString(out.Bytes())
	s.Recipients = recipients
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrSealed, err)
	}
	return kit.WriteFile(path, s.encode(), 0o644)
}

func (s *Sealed) encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tug sealed secrets of environment %q: names in clear, each value encrypted\n", s.Environment)
	fmt.Fprintf(&b, "# with age to the recipients below (secrets.recipients). Safe to commit; change a\n")
	fmt.Fprintf(&b, "# value with `tug secret seal NAME --env %s`.\n", s.Environment)
	fmt.Fprintf(&b, "# recipients: %s\n", strings.Join(s.Recipients, ", "))
	for _, name := range slices.Sorted(maps.Keys(s.Entries)) {
		fmt.Fprintf(&b, "%s=%s\n", name, s.Entries[name])
	}
	return b.Bytes()
}

// digest identifies a sealed entry as written.
func digest(sealed string) string {
	sum := sha256.Sum256([]byte(sealed))
	return hex.EncodeToString(sum[:16])
}

// Unsealed is what TakeSealed did with one environment's file.
type Unsealed struct {
	Environment string
	Written     []Written
	// NotForUs names entries not encrypted to this server's key.
	NotForUs []string
}

// TakeSealed brings the sealed files of envs (under configDir) into the
// store: each entry that changed since it was last taken becomes a new
// version of the environment's value (an unchanged value makes none).
// Entries are decrypted with the store's own key; those not encrypted to
// it are named, not fatal.
func (s *Store) TakeSealed(ctx context.Context, configDir string, envs []string) ([]Unsealed, error) {
	var out []Unsealed
	for _, env := range envs {
		path := SealedPath(configDir, env)
		sealed, err := ReadSealed(path, env)
		if err != nil {
			return out, err
		}
		if len(sealed.Entries) == 0 {
			continue
		}
		b, err := s.read()
		if err != nil {
			return out, err
		}
		var fresh []string
		for _, name := range slices.Sorted(maps.Keys(sealed.Entries)) {
			if e := b.find(name, env); e == nil || e.Sealed != digest(sealed.Entries[name]) {
				fresh = append(fresh, name)
			}
		}
		if len(fresh) == 0 {
			continue
		}
		id, err := s.identityFor(b)
		if err != nil {
			if k := s.keyNow(); b.Recipient == "" {
				// A new store: its key is the one sealed files are for.
				var ok bool
				if id, ok, err = k.identity(); err == nil && !ok {
					err = fmt.Errorf("%w: no key at %s to unseal %s with", ErrNoKey, k.where(), path)
				}
			}
			if err != nil {
				return out, err
			}
		}
		u := Unsealed{Environment: env}
		var writes []Write
		for _, name := range fresh {
			val, err := unseal(sealed.Entries[name], env, name, id)
			if err != nil {
				var nomatch *age.NoIdentityMatchError
				if errors.As(err, &nomatch) {
					u.NotForUs = append(u.NotForUs, name)
					continue
				}
				return out, fmt.Errorf("%w: %s: %s: %v", ErrSealed, path, name, err)
			}
			writes = append(writes, Write{Name: name, Environment: env, Value: val, Origin: OriginSealed, Sealed: digest(sealed.Entries[name])})
		}
		if len(writes) > 0 {
			w, err := s.Set(ctx, "sealed "+filepath.Join(SealedDir, env+".age"), writes...)
			if err != nil {
				return out, err
			}
			u.Written = w
		}
		out = append(out, u)
	}
	return out, nil
}

func unseal(sealed, env, name string, id age.Identity) (secret.Value, error) {
	raw, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return secret.Value{}, err
	}
	r, err := age.Decrypt(bytes.NewReader(raw), id)
	if err != nil {
		return secret.Value{}, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return secret.Value{}, err
	}
	text, ok := strings.CutPrefix(string(b), sealedBinding(env, name))
	if !ok {
		return secret.Value{}, errors.New("the entry was sealed for another name or environment (copied?)")
	}
	return secret.New(text), nil
}

// CheckConfig refuses what the server would refuse of cfg's secrets:
// recipients that are not age X25519 public keys. Errors are positioned.
func CheckConfig(cfg *config.Config) config.Errors {
	var errs config.Errors
	if cfg.Secrets == nil {
		return nil
	}
	for i, r := range cfg.Secrets.Recipients {
		if _, err := age.ParseX25519Recipient(r); err != nil && strings.HasPrefix(r, "age1") {
			errs = append(errs, cfg.Errorf(fmt.Sprintf("secrets.recipients[%d]", i), "%q is not an age X25519 public key: %v", r, err))
		}
	}
	return errs
}
