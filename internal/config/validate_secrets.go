package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// Bounds of secret policies: shorter generated values are guessable,
// faster rotation would redeploy services all day.
const (
	minSecretLength = 16
	maxSecretLength = 4096
	minRotate       = time.Hour
)

// secrets checks the `secrets:` section.
func (v *validator) secrets() {
	s := v.c.Secrets
	if s == nil {
		return
	}
	v.enum("secrets.backend", s.Backend, SecretBackends()...)
	for i, r := range s.Recipients {
		if !strings.HasPrefix(r, "age1") {
			v.errorf(joinIndex("secrets.recipients", i), "%q is not an age public key (age1...; `tug secret key` prints the server's)", r)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Policies)) {
		path := "secrets.policies." + name
		if !kit.ValidEnvName(name) {
			v.errorKey(path, path, "invalid secret name %q: use letters, digits and _, not starting with a digit", name)
			continue
		}
		p := s.Policies[name]
		if p == nil {
			continue
		}
		if p.Length != 0 && (p.Length < minSecretLength || p.Length > maxSecretLength) {
			v.errorf(path+".length", "%d characters: want %d to %d", p.Length, minSecretLength, maxSecretLength)
		}
		if p.Length != 0 && p.Rotate == 0 {
			v.errorf(path+".length", "only generated secrets have a length: add rotate (e.g. rotate: 30d)")
		}
		if p.Rotate != 0 && p.Rotate.D() < minRotate {
			v.errorf(path+".rotate", "rotating more often than every hour would redeploy its services all the time")
		}
	}
	if s.Backend != BackendVault {
		for _, k := range []string{"address", "mount", "path", "token_secret", "approle", "refresh"} {
			if v.has("secrets." + k) {
				v.errorKey("secrets."+k, "secrets."+k, "only used with backend: vault")
			}
		}
		return
	}
	switch u, err := url.Parse(s.Address); {
	case s.Address == "":
		v.errorKey("secrets", "secrets", "address is required with backend: vault (e.g. https://vault.example.com:8200)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf("secrets.address", "%q: want an http:// or https:// URL of the Vault server", s.Address)
	}
	switch {
	case s.TokenSecret == "" && s.AppRole == nil:
		v.errorKey("secrets", "secrets", "backend: vault needs token_secret (the name of the secret holding a token) or approle")
	case s.TokenSecret != "" && s.AppRole != nil:
		v.errorKey("secrets.approle", "secrets.approle", "give token_secret or approle, not both")
	case s.TokenSecret != "":
		v.secretName("secrets.token_secret", s.TokenSecret)
	default:
		if s.AppRole.RoleID == "" {
			v.errorKey("secrets.approle", "secrets.approle", "role_id is required")
		}
		if s.AppRole.SecretIDSecret == "" {
			v.errorKey("secrets.approle", "secrets.approle", "secret_id_secret is required: the name of the secret holding the secret ID")
		} else {
			v.secretName("secrets.approle.secret_id_secret", s.AppRole.SecretIDSecret)
		}
	}
	if s.Refresh != 0 && s.Refresh.D() < time.Second {
		v.errorf("secrets.refresh", "must be at least 1s")
	}
}
