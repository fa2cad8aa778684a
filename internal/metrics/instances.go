package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	dto "github.com/prometheus/client_model/go"

	"github.com/tugdev/tug/internal/runtime"
)

// userHZ is the kernel's clock tick for /proc/<pid>/stat times; 100 on
// every Linux architecture Go supports.
const userHZ = 100

// instanceFamilies reports each instance's health (tug_instance_up: 1 when
// up[ID], the result of its service's health check), restarts and
// crash-loop flag, and for running instances their CPU seconds and resident memory from
// procRoot: summed over the instance's process group when its process
// leads one (as the process runtime starts them, so a wrapper script's
// children count too), else of its process alone. Labels: service,
// environment, release, instance (ID).
func instanceFamilies(procRoot string, insts []runtime.Instance, up map[string]bool) []*dto.MetricFamily {
	fs := newFamSet()
	leaders := map[int]bool{}
	for _, in := range insts {
		if in.PID > 0 && in.State != runtime.Exited {
			leaders[in.PID] = true
		}
	}
	groups := procGroups(procRoot, leaders)
	for _, in := range insts {
		kv := []string{"service", in.Service, "environment", in.Environment, "release", in.Release, "instance", in.ID}
		healthy := 0.0
		if up[in.ID] {
			healthy = 1
		}
		fs.gauge("tug_instance_up", "1 while the instance passes its service's health check (HTTP health.path, else a TCP connect), 0 otherwise.", healthy, kv...)
		fs.counter("tug_instance_restarts_total", "Times the runtime restarted the instance after it exited.", float64(in.Restarts), kv...)
		crash := 0.0
		if in.CrashLoop {
			crash = 1
		}
		fs.gauge("tug_instance_crash_looping", "1 while the instance is crash-looping (5 crashes in 5 minutes).", crash, kv...)
		if !leaders[in.PID] {
			continue
		}
		cpu, cpuOK := 0.0, false
		rss, rssOK := 0.0, false
		if g, ok := groups[in.PID]; ok {
			cpu, rss, cpuOK, rssOK = g.cpu, g.rss, true, true
		} else {
			cpu, cpuOK = procCPUSeconds(procRoot, in.PID)
			rss, rssOK = procRSSBytes(procRoot, in.PID)
		}
		if cpuOK {
			fs.counter("tug_instance_cpu_seconds_total", "User and system CPU time of the instance's processes, with their reaped children.", cpu, kv...)
		}
		if rssOK {
			fs.gauge("tug_instance_resident_memory_bytes", "Resident memory of the instance's processes (shared pages count once per process).", rss, kv...)
		}
	}
	return fs.families()
}

// instanceUp runs each running instance's health check at once, bounded
// by the service's health.timeout, and says which passed. Instances not
// running (restarting, exited) are down without a check.
func (m *Monitor) instanceUp(ctx context.Context, insts []runtime.Instance) map[string]bool {
	m.mu.Lock()
	health := m.settings.health
	m.mu.Unlock()
	up := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, in := range insts {
		if in.State != runtime.Running {
			continue
		}
		hc, ok := health[in.Service]
		if !ok {
			hc = healthCheck{timeout: runtime.DefaultProbeTimeout}
		}
		wg.Go(func() {
			_, ok := runtime.Probe(ctx, in.Addr, hc.path, hc.timeout)
			mu.Lock()
			up[in.ID] = ok
			mu.Unlock()
		})
	}
	wg.Wait()
	return up
}

// groupUsage is what the processes of one process group use.
type groupUsage struct{ cpu, rss float64 }

// procGroups sums, per process group led by one of leaders, the CPU
// seconds (with reaped children's) and resident bytes of its processes,
// reading procRoot/<pid>/stat once per process. A group appears only if
// its leader is alive and leads it.
func procGroups(procRoot string, leaders map[int]bool) map[int]groupUsage {
	out := map[int]groupUsage{}
	if len(leaders) == 0 {
		return out
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return out
	}
	led := map[int]bool{}
	page := float64(os.Getpagesize())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := statFields(procRoot, pid)
		// After the command: state(0) ppid pgrp(2) ... utime(11) stime
		// cutime cstime(14) ... rss(21), in pages.
		if !ok || len(f) < 22 {
			continue
		}
		pgrp, err := strconv.Atoi(f[2])
		if err != nil || !leaders[pgrp] {
			continue
		}
		var n [4]float64
		bad := false
		for k := range n {
			if n[k], err = strconv.ParseFloat(f[11+k], 64); err != nil {
				bad = true
			}
		}
		rss, err := strconv.ParseFloat(f[21], 64)
		if bad || err != nil {
			continue
		}
		g := out[pgrp]
		g.cpu += (n[0] + n[1] + n[2] + n[3]) / userHZ
		g.rss += rss * page
		out[pgrp] = g
		if pid == pgrp {
			led[pgrp] = true
		}
	}
	for pgrp := range out {
		if !led[pgrp] {
			delete(out, pgrp) // its leader is gone: not the instance's group
		}
	}
	return out
}

// statFields are the fields of procRoot/<pid>/stat after the command
// name, which may hold spaces and parentheses (so after the last ')').
func statFields(procRoot string, pid int) ([]string, bool) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}

// procCPUSeconds reads utime+stime of a process.
func procCPUSeconds(procRoot string, pid int) (float64, bool) {
	// State is index 0, utime (field 14) index 11.
	f, ok := statFields(procRoot, pid)
	if !ok || len(f) < 13 {
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
