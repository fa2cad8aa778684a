package config

import "testing"

// An environment's approval is `required` or a mapping; both load into
// one type, and the mapping can keep the deployer from approving.
func TestApprovalShapes(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "approval.yaml")
	for env, want := range map[string]Approval{
		"staging":    {},
		"qa":         {Required: true, Short: "required"},
		"production": {Required: true, NotBy: NotByDeployer},
	} {
		if got := c.Environments[env].Approval; got != want {
			t.Errorf("%s: %+v, want %+v", env, got, want)
		}
	}
}
