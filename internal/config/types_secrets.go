package config

// The `secrets:` keys of tug.yaml: where the values of the secrets that
// services and jobs name come from, who may read sealed files, and how
// secrets are rotated and watched for age.

// Secrets configures the secret store and its backend.
type Secrets struct {
	// Where values come from first: store (tug's encrypted store in the
	// state directory, filled by `tug secret set`) or vault (HashiCorp
	// Vault / OpenBao KV v2). Either way the environment and
	// .tug/secrets.env come after. Default: store. Example: `backend:
	// vault`.
	Backend string `yaml:"backend" json:"backend,omitempty"`
	// The file holding the store's age key (mode 0600), outside the state
	// directory it protects; $TUG_SECRET_KEY (the key itself) wins over it.
	// Relative to tug.yaml, ~/ for the home directory. Default:
	// ~/.config/tug/secret.key. Example: `key_file: ~/.config/tug/shop.key`.
	KeyFile string `yaml:"key_file" json:"key_file,omitempty"`
	// The age public keys (age1...) `tug secret seal` encrypts sealed files
	// to: the server's (`tug secret key` prints it) and whoever else may
	// read them. Default: none (sealing is refused). Example: `recipients:
	// [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]`.
	Recipients []string `yaml:"recipients" json:"recipients,omitempty"`
	// An alert (SecretTooOld) fires for a secret in the store whose current
	// value is older than this. Default: none. Example: `max_age: 90d`.
	MaxAge Duration `yaml:"max_age" json:"max_age,omitempty"`
	// Per-secret settings, by secret name: generated and rotated values,
	// their own max_age. Default: none. Example: `policies: {SESSION_KEY:
	// {rotate: 30d, length: 48}}`.
	Policies map[string]*SecretPolicy `yaml:"policies" json:"policies,omitempty"`
	// The Vault (or OpenBao) server's URL, for backend: vault. Required with
	// it. Example: `address: https://vault.example.com:8200`.
	Address string `yaml:"address" json:"address,omitempty"`
	// The KV version 2 secrets engine's mount. Default: secret. Example:
	// `mount: kv`.
	Mount string `yaml:"mount" json:"mount,omitempty"`
	// The path under the mount holding this project's secrets: each
	// environment's values in PATH/ENV (keys are secret names), values every
	// environment shares in PATH itself. Default: the project's name.
	// Example: `path: teams/shop`.
	Path string `yaml:"path" json:"path,omitempty"`
	// The name of the secret (from the environment or .tug/secrets.env)
	// holding a Vault token, never the token itself. One of token_secret or
	// approle is required with backend: vault. Example: `token_secret:
	// VAULT_TOKEN`.
	TokenSecret string `yaml:"token_secret" json:"token_secret,omitempty"`
	// Log in with Vault's AppRole method instead of a token. Default: none.
	// Example: `approle: {role_id: 3c0ffee0-..., secret_id_secret:
	// VAULT_SECRET_ID}`.
	AppRole *AppRole `yaml:"approle" json:"approle,omitempty"`
	// How often Vault is asked whether a value changed (its metadata's
	// current version), when Vault gives no lease of its own; a changed value
	// is rolled out as a rotation. Default: 1m. Example: `refresh: 30s`.
	Refresh Duration `yaml:"refresh" json:"refresh,omitempty"`
}

// SecretPolicy is how one secret is generated, rotated and watched.
type SecretPolicy struct {
	// tug generates the value and replaces it this often, rolling every
	// service that uses it onto the new one with its deploy strategy.
	// Default: never. Example: `rotate: 30d`.
	Rotate Duration `yaml:"rotate" json:"rotate,omitempty"`
	// How many characters (letters and digits) a generated value has.
	// Default: 32. Example: `length: 48`.
	Length int `yaml:"length" json:"length,omitempty"`
	// An alert fires when the current value is older than this; it wins
	// over secrets.max_age. Default: secrets.max_age. Example: `max_age:
	// 45d`.
	MaxAge Duration `yaml:"max_age" json:"max_age,omitempty"`
}

// AppRole is Vault's AppRole login.
type AppRole struct {
	// The AppRole's role ID. Required. Example: `role_id:
	// 675a50e7-cfe0-be76-e35f-49ec009731ea`.
	RoleID string `yaml:"role_id" json:"role_id"`
	// The name of the secret holding the AppRole's secret ID, never the ID
	// itself. Required. Example: `secret_id_secret: VAULT_SECRET_ID`.
	SecretIDSecret string `yaml:"secret_id_secret" json:"secret_id_secret"`
	// Where the AppRole auth method is mounted. Default: approle. Example:
	// `mount: approle-ci`.
	Mount string `yaml:"mount" json:"mount,omitempty"`
}

// Secret backends.
const (
	BackendStore = "store"
	BackendVault = "vault"
)

// SecretBackends lists the values of secrets.backend.
func SecretBackends() []string { return []string{BackendStore, BackendVault} }

// DefaultSecretLength is a generated secret's length without policy.length.
const DefaultSecretLength = 32

// SecretBackend is the backend in force: secrets.backend or the store.
func (c *Config) SecretBackend() string {
	if c.Secrets == nil || c.Secrets.Backend == "" {
		return BackendStore
	}
	return c.Secrets.Backend
}

// SecretMaxAge is the max_age of the secret name: its policy's, else
// secrets.max_age; 0 for none.
func (c *Config) SecretMaxAge(name string) Duration {
	if c.Secrets == nil {
		return 0
	}
	if p := c.Secrets.Policies[name]; p != nil && p.MaxAge > 0 {
		return p.MaxAge
	}
	return c.Secrets.MaxAge
}

// SecretUsers lists the services that name secret, in declaration order.
func (c *Config) SecretUsers(secret string) []string {
	var out []string
	for _, name := range c.ServiceOrder {
		if s := c.Services[name]; s != nil {
			for _, n := range s.Secrets {
				if n == secret {
					out = append(out, name)
					break
				}
			}
		}
	}
	return out
}
