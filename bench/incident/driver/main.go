// Command driver measures tug's time to detect and to recover from a bad
// release, as users run tug: a real `tug server` with its proxy, canary
// services of the end-to-end test app under a steady loopback load, an
// alert on the 5xx share and a rollback remediation. Each repetition
// injects the fault into the live release of a service of its own (the
// remediation guard allows one automatic rollback per service per hour)
// and measures:
//
//	MTTD  fault injected → incident opened (its opened_at)
//	MTTR  fault injected → service healthy again (every request through
//	      the proxy succeeds from then on)
//
// beside Prometheus as the peer for detection: the same alert rule over
// the same metrics (scraped from tug's /metrics) at the same scrape and
// evaluation intervals, polled every 100ms for the alert firing.
//
// Usage: driver -tug PATH -app PATH [-reps 5] [-prometheus PATH]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	interval = 2 * time.Second // scrape and evaluation interval
	forDur   = 10 * time.Second
	rps      = 50
)

func main() {
	tug := flag.String("tug", "", "the tug binary")
	app := flag.String("app", "", "the test app binary")
	reps := flag.Int("reps", 5, "repetitions")
	prom := flag.String("prometheus", "prometheus", "the Prometheus binary (peer); empty to skip")
	flag.Parse()
	if *tug == "" || *app == "" {
		fmt.Fprintln(os.Stderr, "usage: driver -tug PATH -app PATH [-reps 5]")
		os.Exit(2)
	}
	if err := run(*tug, *app, *prom, *reps); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

type bench struct {
	tug, dir, repo, state, cfg string
	httpAddr, apiAddr          string
	promURL                    string
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func run(tugBin, appBin, promBin string, reps int) error {
	dir, err := os.MkdirTemp("", "tug-bench-incident-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{tug: tugBin, dir: dir, repo: filepath.Join(dir, "repo"), state: filepath.Join(dir, "state"),
		httpAddr: freeAddr(), apiAddr: freeAddr()}
	b.cfg = filepath.Join(b.repo, "tug.yaml")
	if err := b.writeRepo(appBin, reps); err != nil {
		return err
	}
	srv := exec.Command(tugBin, "server", "-f", b.cfg, "--state-dir", b.state, "--http", b.httpAddr,
		"--listen", b.apiAddr, "--insecure-no-auth", "--stop-services")
	srv.Dir = b.repo
	var srvLog bytes.Buffer
	srv.Stdout, srv.Stderr = &srvLog, &srvLog
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
		}
	}()
	if !poll(30*time.Second, func() bool { _, err := b.cli("status"); return err == nil }) {
		return fmt.Errorf("the server did not come up:\n%s", srvLog.String())
	}
	if promBin != "" {
		stop, err := b.startPrometheus(promBin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peer: Prometheus not started:", err)
		} else {
			defer stop()
		}
	}
	for i := 1; i <= reps; i++ {
		svc := fmt.Sprintf("web%d", i)
		for _, v := range []string{"v1", "v2"} {
			if out, err := b.cli("deploy", svc, "--version", v); err != nil {
				return fmt.Errorf("deploy %s %s: %v\n%s", svc, v, err, out)
			}
		}
	}
	fmt.Printf("tug incident benchmark: %d repetitions; scrape and evaluation every %s; alert for %s; %d requests/s through the proxy\n",
		reps, interval, forDur, rps)
	fmt.Printf("targets: MTTD <= for + 2 evaluation intervals + 5s = %s; MTTR < 60s with automatic rollback\n\n", forDur+2*interval+5*time.Second)
	fmt.Printf("%-4s %-6s %10s %16s %10s %14s %10s\n", "rep", "svc", "MTTD", "MTTD prometheus", "MTTR", "rolled back", "resolved")
	var mttd, mttr, peer []time.Duration
	for i := 1; i <= reps; i++ {
		r, err := b.rep(fmt.Sprintf("web%d", i))
		if err != nil {
			return fmt.Errorf("repetition %d: %w\nserver log tail:\n%s", i, err, tail(srvLog.String(), 30))
		}
		fmt.Printf("%-4d %-6s %10s %16s %10s %14s %10s\n", i, r.service, r.mttd.Round(100*time.Millisecond), orNA(r.peer),
			r.mttr.Round(100*time.Millisecond), orNA(r.rolledBack), orNA(r.resolved))
		mttd, mttr = append(mttd, r.mttd), append(mttr, r.mttr)
		if r.peer > 0 {
			peer = append(peer, r.peer)
		}
	}
	fmt.Println()
	summary := func(name string, ds []time.Duration, target time.Duration) bool {
		if len(ds) == 0 {
			fmt.Printf("%-16s n/a\n", name)
			return true
		}
		s := slices.Clone(ds)
		slices.Sort(s)
		var sum time.Duration
		for _, d := range s {
			sum += d
		}
		ok := target == 0 || s[len(s)-1] <= target
		verdict := ""
		if target > 0 {
			verdict = fmt.Sprintf("  target %s: %s", target, map[bool]string{true: "met", false: "MISSED"}[ok])
		}
		fmt.Printf("%-16s mean %s  median %s  max %s%s\n", name, (sum / time.Duration(len(s))).Round(100*time.Millisecond),
			s[len(s)/2].Round(100*time.Millisecond), s[len(s)-1].Round(100*time.Millisecond), verdict)
		return ok
	}
	ok := summary("MTTD tug", mttd, forDur+2*interval+5*time.Second)
	summary("MTTD prometheus", peer, 0)
	ok = summary("MTTR tug", mttr, 60*time.Second) && ok
	if !ok {
		return fmt.Errorf("a target was missed")
	}
	return nil
}

func orNA(d time.Duration) string {
	if d <= 0 {
		return "n/a"
	}
	return d.Round(100 * time.Millisecond).String()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// cli runs the tug CLI against the server.
func (b *bench) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.tug, append([]string{"-f", b.cfg, "--state-dir", b.state}, args...)...)
	cmd.Dir = b.repo
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (b *bench) writeRepo(app string, reps int) error {
	if err := os.MkdirAll(b.repo, 0o755); err != nil {
		return err
	}
	var y strings.Builder
	fmt.Fprintf(&y, "version: 1\nproject: bench-incident\nmonitoring: {scrape_interval: %s, evaluation_interval: %s}\nservices:\n", interval, interval)
	for i := 1; i <= reps; i++ {
		fmt.Fprintf(&y, `  web%d:
    run: exec %s
    health: {path: /healthz, interval: 500ms, timeout: 1s}
    routes: ["web%d.bench"]
    default_alerts: false
    deploy: {strategy: canary, steps: [{weight: 50, pause: 2s}], analysis: {max_error_rate: 0.05}, deploy_timeout: 1m, drain_timeout: 1s}
    remediation: [{alert: WebErrors, action: rollback, within: 30m, mode: act}]
`, i, app, i)
	}
	fmt.Fprintf(&y, "alerts:\n  - alert: WebErrors\n    expr: %s\n    for: %s\n    severity: P1\n", ruleExpr, forDur)
	if err := os.WriteFile(b.cfg, []byte(y.String()), 0o644); err != nil {
		return err
	}
	git := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = b.repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
			"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := git("init", "-q", "-b", "main"); err != nil {
		return err
	}
	for _, v := range []string{"v1", "v2"} {
		if err := os.WriteFile(filepath.Join(b.repo, "VERSION"), []byte(v+"\n"), 0o644); err != nil {
			return err
		}
		for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", v}, {"tag", v}} {
			if err := git(args...); err != nil {
				return err
			}
		}
	}
	return nil
}

// ruleExpr is the alert of tug.yaml and of Prometheus's rule file.
const ruleExpr = `sum by (service) (rate(tug_proxy_requests_total{code=~"5.."}[20s])) / sum by (service) (rate(tug_proxy_requests_total[20s])) > 0.05`

func (b *bench) startPrometheus(bin string) (func(), error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, err
	}
	pdir := filepath.Join(b.dir, "prometheus")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return nil, err
	}
	rules := fmt.Sprintf("groups:\n  - name: bench\n    rules:\n      - alert: WebErrors\n        expr: %s\n        for: %s\n", ruleExpr, forDur)
	conf := fmt.Sprintf("global: {scrape_interval: %s, evaluation_interval: %s}\nrule_files: [%s]\nscrape_configs:\n  - job_name: tug\n    static_configs: [{targets: [%q]}]\n",
		interval, interval, filepath.Join(pdir, "rules.yml"), b.apiAddr)
	if err := os.WriteFile(filepath.Join(pdir, "rules.yml"), []byte(rules), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(pdir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	addr := freeAddr()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(pdir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(pdir, "data"),
		"--web.listen-address="+addr)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	b.promURL = "http://" + addr
	if !poll(30*time.Second, func() bool {
		resp, err := http.Get(b.promURL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		stop()
		return nil, fmt.Errorf("not ready:\n%s", tail(log.String(), 20))
	}
	return stop, nil
}

// result is one repetition's figures, each from the fault's injection.
type result struct {
	service              string
	mttd, peer, mttr     time.Duration
	rolledBack, resolved time.Duration
}

type sample struct {
	at time.Time
	ok bool
}

func (b *bench) rep(svc string) (*result, error) {
	r := &result{service: svc}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var samples []sample
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		client := &http.Client{Timeout: 5 * time.Second}
		t := time.NewTicker(time.Second / rps)
		defer t.Stop()
		for n := 0; n < 4*60*rps; n++ { // bounded: at most four minutes
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.httpAddr+"/", nil)
			req.Host = svc + ".bench"
			resp, err := client.Do(req)
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			samples = append(samples, sample{time.Now(), ok})
			mu.Unlock()
		}
	}()
	defer func() { cancel(); <-loadDone }()
	time.Sleep(25 * time.Second) // the rate window fills with healthy traffic

	rel, err := b.liveRelease(svc)
	if err != nil {
		return nil, err
	}
	fault := time.Now()
	if err := os.WriteFile(filepath.Join(b.state, "releases", rel, "FAULT"), []byte("0.3\n"), 0o644); err != nil {
		return nil, err
	}
	var peerSeen bool
	var inc map[string]any
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if !peerSeen && b.promURL != "" && b.promFiring(svc) {
			peerSeen, r.peer = true, time.Since(fault)
		}
		if inc == nil {
			if got := b.incidentOf(svc); got != nil {
				inc = got
				opened, _ := time.Parse(time.RFC3339Nano, got["opened_at"].(string))
				r.mttd = opened.Sub(fault)
			}
		}
		if inc != nil && (peerSeen || b.promURL == "") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if inc == nil {
		return nil, fmt.Errorf("no incident for %s within 3 minutes", svc)
	}
	id := fmt.Sprint(inc["id"])
	// Wait for the incident to resolve itself, then read the rollback's end.
	if !poll(3*time.Minute, func() bool {
		got := b.incidentOf(svc)
		return got != nil && got["state"] == "resolved"
	}) {
		return nil, fmt.Errorf("incident %s of %s did not resolve", id, svc)
	}
	out, err := b.cli("incident", "show", id, "--json")
	if err != nil {
		return nil, fmt.Errorf("incident show: %v: %s", err, out)
	}
	var full struct {
		ResolvedAt string `json:"resolved_at"`
		Timeline   []struct {
			Time string `json:"time"`
			Text string `json:"text"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out), &full); err != nil {
		return nil, err
	}
	if t, err := time.Parse(time.RFC3339Nano, full.ResolvedAt); err == nil {
		r.resolved = t.Sub(fault)
	}
	for _, e := range full.Timeline {
		if strings.Contains(e.Text, "remediation done: rolled back") {
			if t, err := time.Parse(time.RFC3339Nano, e.Time); err == nil {
				r.rolledBack = t.Sub(fault)
			}
		}
	}
	time.Sleep(5 * time.Second) // healthy requests after the last failure
	mu.Lock()
	defer mu.Unlock()
	last := fault
	for _, s := range samples {
		if !s.ok && s.at.After(last) {
			last = s.at
		}
	}
	r.mttr = last.Sub(fault)
	return r, nil
}

func (b *bench) liveRelease(svc string) (string, error) {
	out, err := b.cli("releases", svc, "--json")
	if err != nil {
		return "", fmt.Errorf("releases %s: %v: %s", svc, err, out)
	}
	var rels []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rels); err != nil {
		return "", err
	}
	for _, r := range rels {
		if r.Status == "live" {
			return r.ID, nil
		}
	}
	return "", fmt.Errorf("%s has no live release", svc)
}

// incidentOf is the newest incident of svc, nil if none.
func (b *bench) incidentOf(svc string) map[string]any {
	out, err := b.cli("incident", "ls", "--all", "--service", svc, "--json")
	if err != nil {
		return nil
	}
	var list []map[string]any
	if json.Unmarshal([]byte(out), &list) != nil || len(list) == 0 {
		return nil
	}
	return list[0]
}

// promFiring says whether Prometheus has WebErrors firing for svc.
func (b *bench) promFiring(svc string) bool {
	resp, err := http.Get(b.promURL + "/api/v1/alerts")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var v struct {
		Data struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
				State  string            `json:"state"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return false
	}
	for _, a := range v.Data.Alerts {
		if a.Labels["alertname"] == "WebErrors" && a.Labels["service"] == svc && a.State == "firing" {
			return true
		}
	}
	return false
}
