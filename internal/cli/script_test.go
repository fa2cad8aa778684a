package cli

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run the real `tug` command line in a child
// process of the test binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"tug": func() { os.Exit(Main()) },
	})
}

// TestScripts runs the CLI scenarios in testdata/script.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"pgcluster": pgCluster, "noproc": noProc},
		Setup: func(env *testscript.Env) error {
			// Runs must not pick up the developer's own state or config.
			env.Setenv("TUG_STATE_DIR", "")
			env.Setenv("NO_COLOR", "1")
			return nil
		},
	})
}
