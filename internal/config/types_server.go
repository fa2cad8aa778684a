package config

// The `server:` keys of tug.yaml: how `tug server` runs the work it does on
// its own (pipelines started by pushes, webhooks and schedules, its image
// registry).

// Server tunes the daemon itself.
type Server struct {
	// How many pipeline runs the server executes at once; more wait in its
	// queue. Default: 2. Example: `max_parallel_runs: 4`.
	MaxParallelRuns int `yaml:"max_parallel_runs" json:"max_parallel_runs,omitempty"`
	// tug's own OCI image registry, served by the server so that build,
	// push and deploy need nothing else installed. Default: off. Example:
	// `registry: {listen: 127.0.0.1:5000}`.
	Registry *RegistryServer `yaml:"registry" json:"registry,omitempty"`
	// Forges whose webhooks start runs, by forge (github, gitlab, gitea),
	// each with the secret its signatures are checked against. Default:
	// none (every webhook is refused). Example: `webhooks: {gitea: {secret:
	// GITEA_WEBHOOK_SECRET}}`.
	Webhooks map[string]*Webhook `yaml:"webhooks" json:"webhooks,omitempty"`
}

// RegistryServer is where tug's own image registry listens.
type RegistryServer struct {
	// The registry's listener, host:port (loopback unless the API's access
	// rules protect it). Required. Example: `listen: 127.0.0.1:5000`.
	Listen string `yaml:"listen" json:"listen"`
	// How many tags of each repository the registry keeps, newest first;
	// older tags go, and garbage collection then deletes the manifests and
	// blobs nothing kept refers to. Images a release pins are always kept,
	// so a rollback finds them. Default: 10. Example: `keep: 20`.
	Keep int `yaml:"keep" json:"keep,omitempty"`
}

// Webhook is one forge's webhook settings.
type Webhook struct {
	// The name of the secret holding the webhook's shared secret, never the
	// value itself. Required. Example: `secret: GITEA_WEBHOOK_SECRET`.
	Secret string `yaml:"secret" json:"secret"`
}

// CommitStatus is the forge that run statuses are posted back to.
type CommitStatus struct {
	// The forge's kind: github, gitlab or gitea. Required. Example: `forge:
	// gitea`.
	Forge string `yaml:"forge" json:"forge"`
	// The forge's base URL (its API is found from it). Required. Example:
	// `url: https://git.example.com`.
	URL string `yaml:"url" json:"url"`
	// The name of the secret holding the API token that may post statuses,
	// never the token itself. Required. Example: `token_secret: GITEA_TOKEN`.
	TokenSecret string `yaml:"token_secret" json:"token_secret"`
}

// Forges are the forges tug speaks to, for webhooks and commit statuses.
func Forges() []string { return []string{"github", "gitlab", "gitea"} }
