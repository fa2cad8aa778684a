package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
)

// Defaults of a service's deploy policy and health check.
const (
	defaultReplicas       = 1
	defaultStrategy       = "rolling"
	defaultDeployTimeout  = 5 * time.Minute
	defaultDrainTimeout   = 30 * time.Second
	defaultRollbackWindow = 5 * time.Minute
	defaultHealthInterval = 2 * time.Second
	defaultHealthTimeout  = runtime.DefaultProbeTimeout
	stopGrace             = 10 * time.Second
)

// Strategy names.
const (
	strategyRolling   = "rolling"
	strategyBlueGreen = "blue-green"
	strategyCanary    = "canary"
)

// plan is everything needed to run one release of a service in one
// environment, with defaults applied. It is stored with the release (as
// its spec) so the release can be started again without the config that
// made it.
type plan struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Runtime     string `json:"runtime"` // process | docker
	// Revision is the git commit a process release was exported at
	// ("worktree" outside git); instances get it as $TUG_REVISION.
	Revision string `json:"revision,omitempty"`
	Command  string `json:"command,omitempty"`
	Build    string `json:"build,omitempty"`
	Image    string `json:"image,omitempty"`
	// BuildImage builds the image at the release's revision; Registry is
	// tug's own registry, where a bare image name goes.
	BuildImage *config.ImageBuild `json:"build_image,omitempty"`
	Registry   string             `json:"registry,omitempty"`
	Pull       bool               `json:"pull,omitempty"`
	Port       int                `json:"port,omitempty"`
	Env        map[string]string  `json:"env,omitempty"`
	Secrets    []string           `json:"secrets,omitempty"`
	// SecretRefs are the versions of the secrets the release got, filled
	// when it first resolves them and pinned ever after.
	SecretRefs map[string]secret.Ref `json:"secret_refs,omitempty"`
	Replicas   int                   `json:"replicas"`

	HealthPath     string        `json:"health_path,omitempty"`
	HealthInterval time.Duration `json:"health_interval"`
	HealthTimeout  time.Duration `json:"health_timeout"`

	Strategy       string              `json:"strategy"`
	Steps          []config.CanaryStep `json:"steps,omitempty"`
	Analysis       *config.Analysis    `json:"analysis,omitempty"`
	Smoke          *config.Smoke       `json:"smoke,omitempty"`
	DeployTimeout  time.Duration       `json:"deploy_timeout"`
	DrainTimeout   time.Duration       `json:"drain_timeout"`
	RollbackWindow time.Duration       `json:"rollback_window"`

	Routes   []string       `json:"routes,omitempty"`
	Sticky   *config.Sticky `json:"sticky,omitempty"`
	Approval bool           `json:"approval,omitempty"`
	// ApprovalNotBy is config.NotByDeployer when the deployer may not
	// approve the release.
	ApprovalNotBy string `json:"approval_not_by,omitempty"`
	ConfigHash    string `json:"config_hash"`

	// Filled when the release is built.
	ReleaseDir string `json:"release_dir,omitempty"`
	Dir        string `json:"dir,omitempty"`
	Digest     string `json:"digest,omitempty"`

	// Source is the git directory the revision is exported from ("" the
	// manager's RepoDir); JobSmoke the checks once all traffic is on the
	// release (a deploy job's smoke:).
	Source   string         `json:"source,omitempty"`
	JobSmoke []config.Smoke `json:"job_smoke,omitempty"`
}

// resolveEnv picks the environment of a request and checks it exists.
func resolveEnv(c *config.Config, env string) (string, error) {
	if env == "" {
		return c.DefaultEnvironment(), nil
	}
	if len(c.Environments) == 0 {
		if env == "default" {
			return env, nil
		}
		return "", fmt.Errorf("%w %q: no environments are declared (the only one is \"default\")", ErrUnknownEnvironment, env)
	}
	if c.Environments[env] == nil {
		return "", fmt.Errorf("%w %q: declared are %v", ErrUnknownEnvironment, env, c.EnvironmentOrder)
	}
	return env, nil
}

// newPlan resolves a service's config in env with every default applied.
func newPlan(c *config.Config, service, env string) (*plan, error) {
	if c == nil {
		return nil, fmt.Errorf("%w %q: no config loaded", ErrUnknownService, service)
	}
	s := c.Services[service]
	if s == nil {
		return nil, fmt.Errorf("%w %q: services declared are %v", ErrUnknownService, service, c.ServiceOrder)
	}
	env, err := resolveEnv(c, env)
	if err != nil {
		return nil, err
	}
	p := &plan{
		Service: service, Environment: env,
		Runtime: "process", Command: s.Run, Build: s.Build, Image: s.Image, Pull: s.Pull, Port: s.Port,
		Env: maps.Clone(s.Env), Secrets: s.Secrets, Replicas: s.Replicas,
		Routes: s.Routes, Sticky: s.Sticky,
		Strategy:       defaultStrategy,
		DeployTimeout:  defaultDeployTimeout,
		DrainTimeout:   defaultDrainTimeout,
		RollbackWindow: defaultRollbackWindow,
		HealthInterval: defaultHealthInterval,
		HealthTimeout:  defaultHealthTimeout,
	}
	if s.RunsContainers() {
		p.Runtime = "docker"
	}
	if s.BuildImage != nil {
		p.BuildImage = s.BuildImage
		if c.Server != nil && c.Server.Registry != nil {
			p.Registry = c.Server.Registry.Listen
		}
	}
	if o := s.Environments[env]; o != nil {
		if o.Replicas > 0 {
			p.Replicas = o.Replicas
		}
		if len(o.Routes) > 0 {
			p.Routes = o.Routes
		}
		if len(o.Env) > 0 {
			if p.Env == nil {
				p.Env = map[string]string{}
			}
			maps.Copy(p.Env, o.Env)
		}
	}
	if p.Replicas <= 0 {
		p.Replicas = defaultReplicas
	}
	if h := s.Health; h != nil {
		p.HealthPath = h.Path
		if h.Interval > 0 {
			p.HealthInterval = h.Interval.D()
		}
		if h.Timeout > 0 {
			p.HealthTimeout = h.Timeout.D()
		}
	}
	if d := s.Deploy; d != nil {
		if d.Strategy != "" {
			p.Strategy = d.Strategy
		}
		p.Steps, p.Analysis, p.Smoke = d.Steps, d.Analysis, d.Smoke
		if d.DeployTimeout > 0 {
			p.DeployTimeout = d.DeployTimeout.D()
		}
		if d.DrainTimeout > 0 {
			p.DrainTimeout = d.DrainTimeout.D()
		}
		if d.RollbackWindow > 0 {
			p.RollbackWindow = d.RollbackWindow.D()
		}
	}
	switch p.Strategy {
	case strategyRolling, strategyBlueGreen, strategyCanary:
	default:
		return nil, fmt.Errorf("%w: services.%s.deploy.strategy: unknown strategy %q (want rolling, blue-green or canary)", ErrFailed, service, p.Strategy)
	}
	if e := c.Environments[env]; e != nil && e.Approval.Required {
		p.Approval, p.ApprovalNotBy = true, e.Approval.NotBy
	}
	// The hash covers what the service is and how it runs here, so two
	// releases with equal revision and hash run the same thing.
	h := sha256.New()
	json.NewEncoder(h).Encode(struct {
		S *config.Service
		O *config.ServiceEnvironment
	}{s, s.Environments[env]})
	p.ConfigHash = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

// steps are the canary steps with the implicit final 100% dropped.
func (p *plan) canarySteps() []config.CanaryStep {
	steps := p.Steps
	if len(steps) == 0 {
		steps = []config.CanaryStep{{Weight: 10, Pause: config.Duration(30 * time.Second)}, {Weight: 50, Pause: config.Duration(30 * time.Second)}}
	}
	var out []config.CanaryStep
	for _, s := range steps {
		if s.Weight > 0 && s.Weight < 100 {
			out = append(out, s)
		}
	}
	return out
}
