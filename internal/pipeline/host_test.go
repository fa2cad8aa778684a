package pipeline

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Short scripts go to bash as an argument, long ones through a temp
// file; both run the same way, with -e and pipefail.
func TestHostRunsShortAndLongScripts(t *testing.T) {
	t.Parallel()
	for name, pad := range map[string]int{"argument": 0, "temp file": maxArgScript + 1} {
		t.Run(name, func(t *testing.T) {
			script := "# " + strings.Repeat("x", pad) + "\necho one\nfalse | true\necho never\n"
			var out bytes.Buffer
			code, err := (&Host{}).Exec(context.Background(), &ExecSpec{Job: "j", Dir: t.TempDir(), Script: script}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if code != 1 || out.String() != "one\n" {
				t.Fatalf("code %d, output %q; want 1, \"one\\n\" (pipefail)", code, out.String())
			}
		})
	}
}
