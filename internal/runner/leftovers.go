package runner

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// killIn kills the processes working in dir or under it: the jobs of a
// run whose server was killed keep running in its worktree otherwise.
// It reads /proc; where there is none it does nothing. It returns how
// many it killed.
func killIn(dir string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	killed := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue
		}
		cwd = strings.TrimSuffix(cwd, " (deleted)")
		if cwd == filepath.Clean(dir) || strings.HasPrefix(cwd, prefix) {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	return killed
}
