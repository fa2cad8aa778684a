package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A back-quoted word in a flag's usage becomes its value's name in the
// help (`--listen tug token create`): every flag of every command must
// show a one-word value name.
func TestFlagValueNamesAreOneWord(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			if name, _ := pflag.UnquoteUsage(f); strings.ContainsAny(name, " `") {
				t.Errorf("%s --%s: its value shows as %q in the help: no back quotes around several words in its usage", c.CommandPath(), f.Name, name)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newApp(Env{}).rootCmd())
}
