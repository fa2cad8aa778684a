package secretstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/secret"
)

// ErrVault: Vault refused or failed a request (the message says which
// path, and Vault's own words).
var ErrVault = errors.New("vault")

// Defaults of the Vault backend.
const (
	defaultMount        = "secret"
	defaultAppRoleMount = "approle"
	defaultRefresh      = time.Minute
)

// VaultOptions configure a Vault source.
type VaultOptions struct {
	// Config is the secrets: section (backend vault). Project is the
	// default path.
	Config  *config.Secrets
	Project string
	// Local resolves token_secret and approle.secret_id_secret (the
	// store, the environment, the local file).
	Local secret.Resolver
	// HTTPClient is used for Vault's API; nil: Vault's default client.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
}

// Vault reads a project's secrets from HashiCorp Vault or OpenBao's KV
// version 2 engine through Vault's own API client: each environment's
// values in MOUNT/data/PATH/ENV, the shared ones in MOUNT/data/PATH (keys
// are secret names). Each read is cached with its lease (KV v2 gives none,
// so secrets.refresh): within it values come from memory; after it the
// metadata's current version is asked, and the data read again only when
// it changed. Pinned versions are read once and kept (they never change).
// Safe for concurrent use.
type Vault struct {
	o       VaultOptions
	mount   string
	path    string
	refresh time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	client  *vault.Client
	tokenAt time.Time     // when the AppRole token was obtained
	tokenIn time.Duration // its lease
	cache   map[string]*vaultRead
}

// vaultRead is one path's data at one version, as last read.
type vaultRead struct {
	version int
	data    map[string]string
	checked time.Time
	missing bool
}

var _ secret.Source = (*Vault)(nil)

// NewVault returns a Vault source; it contacts Vault on first use.
func NewVault(o VaultOptions) (*Vault, error) {
	c := o.Config
	if c == nil || c.Address == "" {
		return nil, fmt.Errorf("%w: no address", ErrVault)
	}
	v := &Vault{o: o, mount: c.Mount, path: c.Path, refresh: c.Refresh.D(), now: o.Now, log: o.Logger, cache: map[string]*vaultRead{}}
	if v.mount == "" {
		v.mount = defaultMount
	}
	if v.path == "" {
		v.path = o.Project
	}
	if v.refresh <= 0 {
		v.refresh = defaultRefresh
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	cfg := vault.DefaultConfig()
	cfg.Address = c.Address
	cfg.MaxRetries = 1
	cfg.MinRetryWait, cfg.MaxRetryWait = 100*time.Millisecond, 500*time.Millisecond
	cfg.Timeout = 15 * time.Second
	if o.HTTPClient != nil {
		cfg.HttpClient = o.HTTPClient
	}
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrVault, err)
	}
	client.ClearToken() // never VAULT_TOKEN from tug's own environment: the config says where the token is
	v.client = client
	return v, nil
}

// vaultWhere names where a config's Vault values live, for messages.
func vaultWhere(c *config.Config) string {
	mount, p := defaultMount, c.Project
	if s := c.Secrets; s != nil {
		if s.Mount != "" {
			mount = s.Mount
		}
		if s.Path != "" {
			p = s.Path
		}
	}
	return mount + "/" + p + "/ENVIRONMENT"
}

// Kind implements secret.Source.
func (*Vault) Kind() string { return secret.FromVault }

// scopePath is the Vault path of a scope ("" the shared values).
func (v *Vault) scopePath(scope string) string {
	if scope == "" {
		return v.path
	}
	return path.Join(v.path, scope)
}

// Lookup implements secret.Source: env's own path, then the shared one;
// pinned names at their version.
func (v *Vault) Lookup(ctx context.Context, env string, names []string, pinned map[string]secret.Ref) (map[string]secret.Resolved, error) {
	out := map[string]secret.Resolved{}
	var loose []string
	for _, n := range names {
		ref, ok := pinned[n]
		if !ok {
			loose = append(loose, n)
			continue
		}
		r, err := v.read(ctx, ref.Scope, ref.Version)
		if err != nil {
			return nil, err
		}
		if val, ok := r.data[n]; ok {
			out[n] = secret.Resolved{Value: secret.New(val), Ref: ref}
		}
	}
	scopes := []string{""}
	if env != "" {
		scopes = []string{env, ""}
	}
	for _, scope := range scopes {
		if len(loose) == 0 {
			break
		}
		r, err := v.read(ctx, scope, 0)
		if err != nil {
			return nil, err
		}
		loose = slices.DeleteFunc(loose, func(n string) bool {
			val, ok := r.data[n]
			if ok {
				out[n] = secret.Resolved{Value: secret.New(val), Ref: secret.Ref{Source: secret.FromVault, Scope: scope, Version: r.version}}
			}
			return ok
		})
	}
	return out, nil
}

// Current is the current version of a scope's path, and its data, read
// again when the cache says so; 0 when the path does not exist.
func (v *Vault) Current(ctx context.Context, scope string) (int, map[string]string, error) {
	r, err := v.read(ctx, scope, 0)
	if err != nil {
		return 0, nil, err
	}
	return r.version, r.data, nil
}

// read returns a scope's data at version (0: the current one).
func (v *Vault) read(ctx context.Context, scope string, version int) (*vaultRead, error) {
	p := v.scopePath(scope)
	key := fmt.Sprintf("%s@%d", p, version)
	v.mu.Lock()
	cached := v.cache[key]
	v.mu.Unlock()
	now := v.now()
	if cached != nil && (version > 0 || now.Sub(cached.checked) < v.refresh) {
		return cached, nil
	}
	kv, err := v.kv(ctx)
	if err != nil {
		return nil, err
	}
	if version == 0 && cached != nil {
		// Past the refresh: ask only whether the value changed.
		md, err := kv.GetMetadata(ctx, p)
		switch {
		case errors.Is(err, vault.ErrSecretNotFound) || notFound404(err):
			return v.remember(key, &vaultRead{missing: true, checked: now}), nil
		case err != nil:
			return nil, v.failed("read the metadata of", p, err)
		case md.CurrentVersion == cached.version:
			c := *cached
			c.checked = now
			return v.remember(key, &c), nil
		}
	}
	var s *vault.KVSecret
	if version > 0 {
		s, err = kv.GetVersion(ctx, p, version)
	} else {
		s, err = kv.Get(ctx, p)
	}
	switch {
	case errors.Is(err, vault.ErrSecretNotFound) || notFound404(err):
		return v.remember(key, &vaultRead{missing: true, checked: now}), nil
	case err != nil:
		return nil, v.failed("read", p, err)
	}
	r := &vaultRead{data: map[string]string{}, checked: now}
	if s.VersionMetadata != nil {
		r.version = s.VersionMetadata.Version
	}
	for k, val := range s.Data { // nil when the version is deleted or destroyed
		str, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("%w: %s/%s: key %s holds a %T, not a string", ErrVault, v.mount, p, k, val)
		}
		r.data[k] = str
	}
	return v.remember(key, r), nil
}

func (v *Vault) remember(key string, r *vaultRead) *vaultRead {
	v.mu.Lock()
	v.cache[key] = r
	v.mu.Unlock()
	return r
}

// notFound404 says whether err is Vault's 404 (a path never written).
func notFound404(err error) bool {
	var re *vault.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// failed turns a Vault error into one that says what was asked, where,
// and Vault's answer; a 403 says the token lacks the policy.
func (v *Vault) failed(what, p string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		if re.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %s %s/%s: Vault refused (403 %s): the token's policy must allow reading %s/data/%s and %s/metadata/%s",
				ErrVault, what, v.mount, p, msg, v.mount, p, v.mount, p)
		}
		return fmt.Errorf("%w: %s %s/%s: %d %s", ErrVault, what, v.mount, p, re.StatusCode, msg)
	}
	return fmt.Errorf("%w: %s %s/%s: %v", ErrVault, what, v.mount, p, err)
}

// kv is the KV v2 client with a token: token_secret's, or one AppRole
// gave (again once two thirds of its lease have passed).
func (v *Vault) kv(ctx context.Context) (*vault.KVv2, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	c := v.o.Config
	needLogin := v.client.Token() == "" ||
		(c.AppRole != nil && v.tokenIn > 0 && v.now().Sub(v.tokenAt) > v.tokenIn*2/3)
	if needLogin {
		if err := v.login(ctx); err != nil {
			return nil, err
		}
	}
	return v.client.KVv2(v.mount), nil
}

// login sets the client's token. Called with mu held.
func (v *Vault) login(ctx context.Context) error {
	c := v.o.Config
	if v.o.Local == nil {
		return fmt.Errorf("%w: no source for the Vault credentials", ErrVault)
	}
	if c.AppRole == nil {
		got, err := v.o.Local.Resolve(ctx, "", []string{c.TokenSecret}, nil)
		if err != nil {
			return fmt.Errorf("%w: secrets.token_secret: %w", ErrVault, err)
		}
		v.client.SetToken(got[c.TokenSecret].Value.Reveal())
		return nil
	}
	got, err := v.o.Local.Resolve(ctx, "", []string{c.AppRole.SecretIDSecret}, nil)
	if err != nil {
		return fmt.Errorf("%w: secrets.approle.secret_id_secret: %w", ErrVault, err)
	}
	mount := c.AppRole.Mount
	if mount == "" {
		mount = defaultAppRoleMount
	}
	v.client.ClearToken()
	s, err := v.client.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", map[string]any{
		"role_id": c.AppRole.RoleID, "secret_id": got[c.AppRole.SecretIDSecret].Value.Reveal(),
	})
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) {
			return fmt.Errorf("%w: AppRole login at auth/%s refused (%d %s)", ErrVault, mount, re.StatusCode, strings.Join(re.Errors, "; "))
		}
		return fmt.Errorf("%w: AppRole login at auth/%s: %v", ErrVault, mount, err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("%w: AppRole login at auth/%s gave no token", ErrVault, mount)
	}
	v.client.SetToken(s.Auth.ClientToken)
	v.tokenAt, v.tokenIn = v.now(), time.Duration(s.Auth.LeaseDuration)*time.Second
	v.log.Info("logged in to Vault with AppRole", "lease", v.tokenIn)
	return nil
}
