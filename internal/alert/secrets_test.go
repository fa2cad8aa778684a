package alert

import (
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/tugdev/tug/internal/config"
)

// A max_age anywhere adds the SecretTooOld rule over the store's ages;
// without one there is nothing to alert on.
func TestSecretPackFollowsMaxAge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{"version: 1\n", false},
		{"version: 1\nsecrets: {max_age: 90d}\n", true},
		{"version: 1\nsecrets: {policies: {A: {max_age: 10d}}}\n", true},
		{"version: 1\nsecrets: {max_age: 90d}\nmonitoring: {default_alerts: false}\n", false},
	} {
		got := false
		for _, g := range ConfigGroups(parseSecretsConfig(t, tc.yaml), nil) {
			if g.Name == "default:secrets" {
				got = true
				if _, err := parser.NewParser(parser.Options{}).ParseExpr(g.Rules[0].Expr); err != nil || g.Rules[0].Alert != "SecretTooOld" {
					t.Errorf("rule %+v: %v", g.Rules[0], err)
				}
			}
		}
		if got != tc.want {
			t.Errorf("%q: secret pack %v, want %v", tc.yaml, got, tc.want)
		}
	}
}

func parseSecretsConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse("tug.yaml", []byte(src), config.LoadOptions{LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
