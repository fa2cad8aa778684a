package flags

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/secret"
)

// keyFile holds the master secret of the state directory's client keys.
const keyFile = "client.key"

// DirName is the flags room's directory in the state directory.
const DirName = "flags"

// keyring derives each service's client key from one master secret, so
// the key of a service in an environment is the same across server
// restarts without a table of keys: HMAC-SHA256(master, service NUL env).
type keyring struct{ master []byte }

// openKeyring reads the master secret, making it (32 random bytes,
// written whole before use) the first time. Without dir the keys come
// from a master kept in memory only.
func openKeyring(dir string) (*keyring, error) {
	if dir == "" {
		m := make([]byte, 32)
		rand.Read(m)
		return &keyring{master: m}, nil
	}
	p := filepath.Join(dir, DirName, keyFile)
	b, err := os.ReadFile(p)
	switch {
	case err == nil && len(b) == 64:
		m, err := hex.DecodeString(string(b))
		if err == nil {
			return &keyring{master: m}, nil
		}
		return nil, fmt.Errorf("flags: %s is damaged: %v", p, err)
	case err == nil:
		return nil, fmt.Errorf("flags: %s is damaged: %d bytes, want 64 hex digits", p, len(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("flags: %w", err)
	}
	m := make([]byte, 32)
	if _, err := rand.Read(m); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	if err := kit.WriteFile(p, []byte(hex.EncodeToString(m)), 0o600); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	return &keyring{master: m}, nil
}

// key is the client key of service in env.
func (k *keyring) key(service, env string) secret.Value {
	mac := hmac.New(sha256.New, k.master)
	mac.Write([]byte(service + "\x00" + env))
	return secret.New("tugf_" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
}

// hash is what the proxy's table carries of a key.
func hash(key secret.Value) string {
	s := sha256.Sum256([]byte(key.Reveal()))
	return hex.EncodeToString(s[:])
}
