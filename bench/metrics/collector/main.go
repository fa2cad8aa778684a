// Command collector runs tug's monitoring (internal/metrics) against the
// targets listed on stdin, one host:port per line, each as one service
// instance, and reports its own CPU share of one core and resident
// memory over a measured window.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runtime"
)

func main() {
	interval := flag.Duration("interval", 5*time.Second, "scrape interval")
	warmup := flag.Duration("warmup", 15*time.Second, "time before measuring")
	measure := flag.Duration("measure", 60*time.Second, "measured window")
	dir := flag.String("dir", "", "TSDB directory")
	pid := flag.Int("pid", 0, "PID the instances report (the targets process)")
	flag.Parse()

	var insts []runtime.Instance
	cfg := &config.Config{
		Services:   map[string]*config.Service{},
		Monitoring: &config.Monitoring{ScrapeInterval: config.Duration(*interval)},
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		addr := strings.TrimSpace(sc.Text())
		if addr == "" {
			continue
		}
		svc := fmt.Sprintf("svc%02d", len(insts))
		cfg.Services[svc] = &config.Service{Metrics: &config.MetricsEndpoint{Path: "/metrics"}}
		insts = append(insts, runtime.Instance{
			ID: svc + "-production-r1-1", Service: svc, Environment: "production", Release: "r1",
			Addr: addr, PID: *pid, State: runtime.Running,
		})
	}
	m, err := metrics.New(metrics.Options{
		Dir:                    *dir,
		Config:                 cfg,
		Instances:              func(context.Context) ([]runtime.Instance, error) { return insts, nil },
		EvaluateRecordingRules: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()

	time.Sleep(*warmup)
	cpu0, t0 := cpuSeconds(), time.Now()
	var rssMax float64
	for end := t0.Add(*measure); time.Now().Before(end); time.Sleep(time.Second) {
		rssMax = max(rssMax, status("VmRSS"))
	}
	cpu1, t1 := cpuSeconds(), time.Now()
	series, _ := m.Query(ctx, `count({__name__=~".+"})`)
	ups, _ := m.Query(ctx, `sum(up)`)
	samples, _ := m.Query(ctx, `sum(scrape_samples_scraped)`)
	cancel()
	<-done
	_ = m.Close()
	out := map[string]any{
		"targets":             len(insts),
		"scrape_interval_s":   interval.Seconds(),
		"measured_s":          t1.Sub(t0).Seconds(),
		"cpu_percent_of_core": 100 * (cpu1 - cpu0) / t1.Sub(t0).Seconds(),
		"rss_mib_max":         rssMax / (1 << 20),
		"rss_hwm_mib":         status("VmHWM") / (1 << 20),
		"series":              series,
		"targets_up":          ups,
		"samples_per_scrape":  samples,
		"samples_per_second":  samples / interval.Seconds(),
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		log.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// status reads a kB field of /proc/self/status, in bytes.
func status(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			n, _ := strconv.ParseFloat(f[0], 64)
			return n * 1024
		}
	}
	return 0
}
