package cli

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeMainCommandStopsOnSignal: the README's first command runs tug
// itself, not through `go run`, which does not pass a signal sent to it on
// to the program it starts (so SIGINT would leave tug up running).
func TestReadmeMainCommandStopsOnSignal(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("README has no sh block")
	}
	for _, line := range strings.Split(block, "\n") {
		cmd, _, _ := strings.Cut(line, "#")
		if strings.Contains(cmd, " up ") {
			if strings.Contains(cmd, "go run") {
				t.Errorf("the main command runs tug up through go run: %q", line)
			}
			return
		}
	}
	t.Error("the README's first sh block does not start tug up")
}
