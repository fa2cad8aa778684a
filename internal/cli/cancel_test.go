package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/testkit"
)

// TestRunCancelled cancels a run the way SIGINT does (Main's context) and
// expects exit code 1, the job stopped and the run recorded as cancelled.
func TestRunCancelled(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	yaml := `version: 1
project: t
pipelines:
  ci:
    jobs:
      slow:
        run: touch started; sleep 30; touch finished
`
	if err := os.WriteFile(filepath.Join(dir, "tug.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testkit.SyncBuffer
	env := Env{Stdout: &out, Stderr: &errOut, LookupEnv: os.LookupEnv, Getwd: os.Getwd}
	code := make(chan int, 1)
	go func() { code <- Run(ctx, []string{"run", "--state-dir", filepath.Join(dir, "state")}, env) }()

	if !testkit.Poll(20*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "started")); return err == nil }) {
		t.Fatalf("job never started; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	cancel()
	select {
	case c := <-code:
		if c != exitFailed {
			t.Errorf("exit code %d, want %d", c, exitFailed)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop after cancellation")
	}
	if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
		t.Error("the job ran to its end")
	}
	if !strings.Contains(out.String(), "run 1 cancelled") {
		t.Errorf("stdout:\n%s", out.String())
	}

	var runs testkit.SyncBuffer
	env.Stdout = &runs
	if c := Run(context.Background(), []string{"runs", "--state-dir", filepath.Join(dir, "state")}, env); c != 0 {
		t.Fatalf("tug runs: exit %d: %s", c, errOut.String())
	}
	if !strings.Contains(runs.String(), "cancelled") {
		t.Errorf("runs:\n%s", runs.String())
	}
}
