package metrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	dto "github.com/prometheus/client_model/go"
)

// hostFamilies reads the host's CPU, memory, load, network and
// filesystems from procRoot and statfs, named as node_exporter names them
// so existing dashboards work unchanged. A missing file skips its metrics;
// only a host with none of them is an error (the node target is down).
func hostFamilies(procRoot string) ([]*dto.MetricFamily, error) {
	fs := newFamSet()
	var errs []error
	for _, read := range []func(string, *famSet) error{hostCPU, hostMemory, hostLoad, hostNetwork, hostFilesystems} {
		if err := read(procRoot, fs); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 5 {
		return nil, errors.Join(errs...)
	}
	return fs.families(), nil
}

func hostCPU(procRoot string, fs *famSet) error {
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return err
	}
	// /proc/stat's columns in order, as node_exporter names them.
	cpuModes := [...]string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		switch {
		case strings.HasPrefix(f[0], "cpu") && f[0] != "cpu":
			cpu := strings.TrimPrefix(f[0], "cpu")
			for i, mode := range cpuModes {
				if i+1 >= len(f) {
					break
				}
				v, err := strconv.ParseFloat(f[i+1], 64)
				if err != nil {
					continue
				}
				fs.counter("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", v/userHZ, "cpu", cpu, "mode", mode)
			}
		case f[0] == "btime":
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				fs.gauge("node_boot_time_seconds", "Node boot time, in unixtime.", v)
			}
		case f[0] == "ctxt":
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				fs.counter("node_context_switches_total", "Total number of context switches.", v)
			}
		}
	}
	return nil
}

func hostMemory(procRoot string, fs *famSet) error {
	b, err := os.ReadFile(filepath.Join(procRoot, "meminfo"))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// "MemTotal:       24684416 kB", "HugePages_Total:       0"
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		// node_exporter: "Active(anon)" -> "Active_anon".
		name = strings.NewReplacer("(", "_", ")", "").Replace(name)
		if len(f) > 1 && f[1] == "kB" {
			fs.gauge("node_memory_"+name+"_bytes", "Memory information field "+name+"_bytes.", v*1024)
		} else {
			fs.gauge("node_memory_"+name, "Memory information field "+name+".", v)
		}
	}
	return nil
}

func hostLoad(procRoot string, fs *famSet) error {
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return fmt.Errorf("%s/loadavg: unexpected %q", procRoot, b)
	}
	for i, name := range []string{"node_load1", "node_load5", "node_load15"} {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			fs.gauge(name, strings.TrimPrefix(name, "node_load")+"m load average.", v)
		}
	}
	return nil
}

func hostNetwork(procRoot string, fs *famSet) error {
	b, err := os.ReadFile(filepath.Join(procRoot, "net", "dev"))
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		dev, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		dev = strings.TrimSpace(dev)
		f := strings.Fields(rest)
		if len(f) < 16 {
			continue
		}
		val := func(i int) float64 { v, _ := strconv.ParseFloat(f[i], 64); return v }
		fs.counter("node_network_receive_bytes_total", "Network device statistic receive_bytes.", val(0), "device", dev)
		fs.counter("node_network_receive_packets_total", "Network device statistic receive_packets.", val(1), "device", dev)
		fs.counter("node_network_receive_errs_total", "Network device statistic receive_errs.", val(2), "device", dev)
		fs.counter("node_network_transmit_bytes_total", "Network device statistic transmit_bytes.", val(8), "device", dev)
		fs.counter("node_network_transmit_packets_total", "Network device statistic transmit_packets.", val(9), "device", dev)
		fs.counter("node_network_transmit_errs_total", "Network device statistic transmit_errs.", val(10), "device", dev)
	}
	return nil
}

// ignoredFS follows node_exporter's defaults: pseudo and virtual
// filesystems, and mounts under /dev, /proc, /sys and container storage,
// say nothing about disk space.
func ignoredFS(fstype, mountpoint string) bool {
	switch fstype {
	case "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
		"fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "proc", "procfs", "pstore", "rpc_pipefs",
		"securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs", "nfsd", "ramfs":
		return true
	}
	for _, p := range []string{"/dev/", "/proc/", "/sys/", "/run/credentials/", "/var/lib/docker/", "/var/lib/containers/storage/"} {
		if strings.HasPrefix(mountpoint+"/", p) {
			return true
		}
	}
	return false
}

func hostFilesystems(procRoot string, fs *famSet) error {
	b, err := os.ReadFile(filepath.Join(procRoot, "mounts"))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		device, mountpoint, fstype := f[0], unescapeMount(f[1]), f[2]
		if ignoredFS(fstype, mountpoint) || seen[mountpoint] {
			continue
		}
		seen[mountpoint] = true
		var st syscall.Statfs_t
		if err := syscall.Statfs(mountpoint, &st); err != nil {
			continue
		}
		bs := float64(st.Bsize)
		kv := []string{"device", device, "fstype", fstype, "mountpoint", mountpoint}
		fs.gauge("node_filesystem_size_bytes", "Filesystem size in bytes.", float64(st.Blocks)*bs, kv...)
		fs.gauge("node_filesystem_free_bytes", "Filesystem free space in bytes.", float64(st.Bfree)*bs, kv...)
		fs.gauge("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes.", float64(st.Bavail)*bs, kv...)
		fs.gauge("node_filesystem_files", "Filesystem total file nodes.", float64(st.Files), kv...)
		fs.gauge("node_filesystem_files_free", "Filesystem total free file nodes.", float64(st.Ffree), kv...)
	}
	return nil
}

// unescapeMount undoes /proc/mounts' octal escapes ("\040" for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
