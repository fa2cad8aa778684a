package config

// The continuous-delivery keys of a pipeline: how runs of it the server
// starts share a concurrency group, and the smoke checks of a deploy job.

// Concurrency puts a pipeline's runs in a group, as GitHub Actions has it:
// at most one run of a group runs at a time.
type Concurrency struct {
	// The group's name, with ${{ branch }}, ${{ tag }}, ${{ event }}, ${{
	// commit }} and ${{ pipeline }} filled in per run. Required. Example:
	// `group: "ci-${{ branch }}"`.
	Group string `yaml:"group" json:"group"`
	// A new run of the group cancels the one in progress instead of waiting
	// for it; runs still queued in the group are superseded either way.
	// Default: false. Example: `cancel_in_progress: true`.
	CancelInProgress bool `yaml:"cancel_in_progress" json:"cancel_in_progress,omitempty"`
}

// ConcurrencyVars are the names a concurrency group may use as ${{ NAME }}.
func ConcurrencyVars() []string { return []string{"branch", "tag", "event", "commit", "pipeline"} }
