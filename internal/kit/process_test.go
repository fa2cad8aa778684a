//go:build unix

package kit

import (
	"os"
	"os/exec"
	"testing"
)

func TestAlive(t *testing.T) {
	t.Parallel()
	if !Alive(os.Getpid()) {
		t.Fatal("this process is not alive")
	}
	if !Alive(1) {
		t.Fatal("init (another user's process) is not alive")
	}
	if Alive(0) || Alive(-1) || Alive(1<<30) {
		t.Fatal("non-positive PIDs are alive")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if Alive(cmd.Process.Pid) {
		t.Fatalf("reaped child %d is alive", cmd.Process.Pid)
	}
	if GroupAlive(0) {
		t.Fatal("group 0 is alive")
	}
}
