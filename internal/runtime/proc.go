package runtime

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/tugdev/tug/internal/kit"
)

// procStat is what tug reads from /proc/<pid>/stat: the state letter
// (Z for a zombie) and the start time in clock ticks since boot, which
// together with the PID names one process for good, guarding against
// PID reuse.
type procStat struct {
	state byte
	pgrp  int
	start uint64
}

// readProcStat parses /proc/<pid>/stat. The command name (field 2) may
// hold spaces and parentheses, so fields are counted after the last ')'.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); starttime is field 22, so f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: start time: %w", pid, err)
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: process group: %w", pid, err)
	}
	return procStat{state: f[0][0], pgrp: pgrp, start: start}, nil
}

// processAlive says whether pid is still the process that started at
// start (a zombie counts as dead: it runs nothing and will be reaped).
func processAlive(pid int, start uint64) bool {
	if !kit.Alive(pid) {
		return false
	}
	st, err := readProcStat(pid)
	if err != nil {
		return false
	}
	return st.start == start && st.state != 'Z' && st.state != 'X'
}

// groupAlive says whether any live (not zombie) process is left in
// process group pgid. Zombies stay in their group until their parent
// reaps them, which for orphans is init's business, so they are skipped.
func groupAlive(pgid int) bool {
	if !kit.GroupAlive(pgid) {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err == nil && st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			return true
		}
	}
	return false
}
