package config

// Scan configures `tug scan`, scan jobs and the server's rescans of live
// releases.
type Scan struct {
	// Directories (relative to tug.yaml) of OSV records of any ecosystem
	// (npm, PyPI, crates.io, RubyGems, Debian, Alpine, Go) checked besides
	// the vulnerability database. Default: none. Example: `advisories:
	// [security/osv]`.
	Advisories []string `yaml:"advisories" json:"advisories,omitempty"`
	// The offline vulnerability database's directory, which `tug scan
	// --update-db` builds from golang.org/x/vulndb. Default: $TUG_VULNDB,
	// else ~/.cache/tug/vulndb. Example: `database: /var/lib/tug/vulndb`.
	Database string `yaml:"database" json:"database,omitempty"`
	// Database age that earns a warning on every scan. Default: 7d.
	// Example: `stale_after: 14d`.
	StaleAfter Duration `yaml:"stale_after" json:"stale_after,omitempty"`
	// The lowest severity (critical, high, medium, low, info) of a finding
	// not in the baseline that makes `tug scan` exit 1. Default: none for
	// `tug scan`, high for scan jobs. Example: `fail_on: medium`.
	FailOn string `yaml:"fail_on" json:"fail_on,omitempty"`
	// The baseline file (relative to tug.yaml) that `tug scan --baseline`
	// writes; findings it lists do not fail. Default: .tug-scan-baseline.
	// Example: `baseline: security/baseline.txt`.
	Baseline string `yaml:"baseline" json:"baseline,omitempty"`
	// Suppressions: each matches findings by fingerprint, rule and/or path
	// glob and says why. Default: none. Example: `ignore: [{fingerprint:
	// 3f2a9c0e1b7d4a55, reason: a test key, expires: 2027-06-30}]`.
	Ignore []*ScanIgnore `yaml:"ignore" json:"ignore,omitempty"`
	// How often the server rescans the live releases' dependencies; a
	// rebuilt database rescans at once. Default: 6h. Example: `rescan: 1h`.
	Rescan Duration `yaml:"rescan" json:"rescan,omitempty"`
}

// ScanIgnore suppresses the findings it matches: by fingerprint, rule,
// path glob, or a combination (all given must match).
type ScanIgnore struct {
	// A finding's fingerprint, as `tug scan` prints it. Default: any.
	// Example: `fingerprint: 3f2a9c0e1b7d4a55`.
	Fingerprint string `yaml:"fingerprint" json:"fingerprint,omitempty"`
	// A rule id: an infrastructure rule, a secret rule or an advisory.
	// Default: any. Example: `rule: TUG-DF-001`.
	Rule string `yaml:"rule" json:"rule,omitempty"`
	// A glob of paths relative to the scanned directory. Default: any.
	// Example: `path: "deploy/**"`.
	Path string `yaml:"path" json:"path,omitempty"`
	// Why the findings are acceptable. Required. Example: `reason: limits
	// come from the namespace's LimitRange`.
	Reason string `yaml:"reason" json:"reason"`
	// The date (YYYY-MM-DD) after which the findings are reported again.
	// Default: never. Example: `expires: 2027-01-31`.
	Expires string `yaml:"expires" json:"expires,omitempty"`
}

// Licenses is the licence policy of dependencies, in SPDX identifiers.
type Licenses struct {
	// Licences allowed; with a list, any other licence is a finding.
	// Default: any. Example: `allow: [MIT, Apache-2.0, BSD-3-Clause]`.
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// Licences denied: a dependency under one is a high finding. Default:
	// none. Example: `deny: [AGPL-3.0-only]`.
	Deny []string `yaml:"deny" json:"deny,omitempty"`
}

// JobScan makes a job scan the workspace in-process instead of running a
// script. With none of secrets, deps, licenses, iac set, all four run
// (licenses only when tug.yaml has a licenses policy).
type JobScan struct {
	// Scan for leaked secrets (gitleaks' rules). Default: true when no
	// scanner is named. Example: `secrets: true`.
	Secrets *bool `yaml:"secrets" json:"secrets,omitempty"`
	// Scan dependencies for known vulnerabilities (Go with reachability,
	// lockfiles). Default: true when no scanner is named. Example: `deps:
	// true`.
	Deps *bool `yaml:"deps" json:"deps,omitempty"`
	// Check dependency licences against licenses. Default: true when no
	// scanner is named and tug.yaml has licenses. Example: `licenses: true`.
	Licenses *bool `yaml:"licenses" json:"licenses,omitempty"`
	// Check Terraform, Dockerfiles, Compose files, Kubernetes manifests and
	// tug.yaml. Default: true when no scanner is named. Example: `iac:
	// true`.
	IaC *bool `yaml:"iac" json:"iac,omitempty"`
	// A local image to scan (OS packages, Go binaries); nothing is pulled.
	// Default: none. Example: `image: shop:local`.
	Image string `yaml:"image" json:"image,omitempty"`
	// The lowest severity of a new finding that fails the job. Default:
	// scan.fail_on, else high. Example: `fail_on: critical`.
	FailOn string `yaml:"fail_on" json:"fail_on,omitempty"`
}
