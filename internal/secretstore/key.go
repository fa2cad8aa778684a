package secretstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/tugdev/tug/internal/kit"
)

// KeyEnv is the environment variable that may hold the store's key
// itself (an AGE-SECRET-KEY-1... line) instead of a key file.
const KeyEnv = "TUG_SECRET_KEY"

// Errors about the store's key. Both change nothing.
var (
	// ErrNoKey: the store holds values and no key was found to read them.
	ErrNoKey = errors.New("no secret key")
	// ErrWrongKey: the key found is not the one the store is encrypted to,
	// or is not a key at all.
	ErrWrongKey = errors.New("wrong secret key")
)

// Key says where the store's key is: the value of TUG_SECRET_KEY, else
// the key file. The key lives outside the state directory it protects, so
// a copy of that directory (a backup, a leaked disk) holds no key.
type Key struct {
	// File is the key file (mode 0600): secrets.key_file, or DefaultKeyFile.
	File string
	// Env is TUG_SECRET_KEY's value; "" when unset.
	Env string
}

// DefaultKeyFile is where the key lives unless secrets.key_file says
// otherwise: tug/secret.key under $XDG_CONFIG_HOME, or ~/.config.
func DefaultKeyFile(lookupEnv func(string) (string, bool)) string {
	if v, ok := lookupEnv("XDG_CONFIG_HOME"); ok && v != "" {
		return filepath.Join(v, "tug", "secret.key")
	}
	home, _ := lookupEnv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".config", "tug", "secret.key")
}

// KeyFrom is the Key that file (secrets.key_file, "" for the default;
// "~/" expanded, relative paths taken from base) and the environment
// name.
func KeyFrom(file, base string, lookupEnv func(string) (string, bool)) Key {
	k := Key{File: file}
	if v, ok := lookupEnv(KeyEnv); ok {
		k.Env = strings.TrimSpace(v)
	}
	switch {
	case file == "":
		k.File = DefaultKeyFile(lookupEnv)
	case strings.HasPrefix(file, "~/"):
		home, _ := lookupEnv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		k.File = filepath.Join(home, file[2:])
	case !filepath.IsAbs(file):
		k.File = filepath.Join(base, file)
	}
	return k
}

// where names the key for messages.
func (k Key) where() string {
	if k.Env != "" {
		return "$" + KeyEnv
	}
	return k.File
}

// identity reads the key. ok is false when there is none (no variable, no
// file); a key that is there but unreadable, open to others or not a key
// is an error wrapping ErrWrongKey.
func (k Key) identity() (id *age.X25519Identity, ok bool, err error) {
	text := k.Env
	if text == "" {
		info, err := os.Stat(k.File)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %v", ErrWrongKey, k.File, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%w: %s is open to other users (mode %04o): run `chmod 600 %s`", ErrWrongKey, k.File, info.Mode().Perm(), k.File)
		}
		b, err := os.ReadFile(k.File)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %v", ErrWrongKey, k.File, err)
		}
		text = string(b)
	}
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			// age's message quotes nothing of the key; still, say only where.
			return nil, false, fmt.Errorf("%w: %s holds no age X25519 key (AGE-SECRET-KEY-1...)", ErrWrongKey, k.where())
		}
		return id, true, nil
	}
	return nil, false, fmt.Errorf("%w: %s is empty", ErrWrongKey, k.where())
}

// create writes a new key file (0600, its directory 0700) and returns
// the key. It refuses to replace a file that exists.
func (k Key) create(now time.Time) (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(k.File), 0o700); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tug secret key, created %s. Keep it private and backed up:\n", now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# without it the secret store cannot be read.\n# public key: %s\n%s\n", id.Recipient(), id)
	f, err := os.OpenFile(k.File, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(k.File)
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return id, kit.SyncDir(filepath.Dir(k.File))
}
