package config

// Approval is an environment's approval gate: `approval: required`, or
// the mapping form with more conditions.
type Approval struct {
	// true makes every deploy to the environment wait for `tug approve
	// RELEASE`. Default: false. Example: `{required: true}`.
	Required bool `yaml:"required" json:"required,omitempty"`
	// Who may not approve: deployer means someone other than whoever
	// deployed the release (another token, another user). Needs required:
	// true. Default: anyone with the deployer role. Example: `{required:
	// true, not_by: deployer}`.
	NotBy string `yaml:"not_by" json:"not_by,omitempty"`

	// Short is the scalar form as written (`approval: required`); the
	// validator checks it.
	Short string `yaml:"-" json:"-"`
}

// NotByDeployer is the not_by value that keeps a release's deployer from
// approving it.
const NotByDeployer = "deployer"
