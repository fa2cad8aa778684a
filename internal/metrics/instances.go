package metrics

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/tugdev/tug/internal/runtime"
)

// userHZ is the kernel's clock tick for /proc/<pid>/stat times; 100 on
// every Linux architecture Go supports.
const userHZ = 100

// instanceFamilies reports each instance's restarts and crash-loop flag,
// and for process instances their CPU seconds and resident memory from
// procRoot/<pid>. Labels: service, environment, release, instance (ID).
func instanceFamilies(procRoot string, insts []runtime.Instance) []*dto.MetricFamily {
	fs := newFamSet()
	for _, in := range insts {
		kv := []string{"service", in.Service, "environment", in.Environment, "release", in.Release, "instance", in.ID}
		fs.counter("tug_instance_restarts_total", "Times the runtime restarted the instance after it exited.", float64(in.Restarts), kv...)
		crash := 0.0
		if in.CrashLoop {
			crash = 1
		}
		fs.gauge("tug_instance_crash_looping", "1 while the instance is crash-looping (5 crashes in 5 minutes).", crash, kv...)
		if in.PID <= 0 || in.State == runtime.Exited {
			continue
		}
		if cpu, ok := procCPUSeconds(procRoot, in.PID); ok {
			fs.counter("tug_instance_cpu_seconds_total", "User and system CPU time of the instance's process.", cpu, kv...)
		}
		if rss, ok := procRSSBytes(procRoot, in.PID); ok {
			fs.gauge("tug_instance_resident_memory_bytes", "Resident memory of the instance's process.", rss, kv...)
		}
	}
	return fs.families()
}

// procCPUSeconds reads utime+stime of a process.
func procCPUSeconds(procRoot string, pid int) (float64, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Then field 3 (state) is index 0, utime (14) index 11.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) / userHZ, true
}

// procRSSBytes reads the resident set size of a process.
func procRSSBytes(procRoot string, pid int) (float64, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "statm"))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0, false
	}
	return pages * float64(os.Getpagesize()), true
}
