// Package webbench measures the dashboard's budgets: with 50 services and
// a day of their metrics in the TSDB, each page's server render time
// (target under 100 ms) and its weight with its assets (target under
// 150 KB). Run it with bench/web/run.sh.
package webbench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/metrics"
	"github.com/tugdev/tug/internal/runner"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/store"
	"github.com/tugdev/tug/internal/web"
)

const (
	services  = 50
	instances = 2
	// step is the scrape interval of the day of samples written.
	step = 15 * time.Second
	// renders is how many times each page is drawn.
	renders = 20
)

// deployer answers the status and releases of the 50 services.
type deployer struct {
	status   []deploy.ServiceStatus
	releases map[string][]deploy.Release
}

func (d *deployer) Deploy(context.Context, deploy.Request, deploy.Progress) (*deploy.Release, error) {
	return nil, deploy.ErrBusy
}
func (d *deployer) Rollback(context.Context, string, string, string, deploy.Progress) (*deploy.Release, error) {
	return nil, deploy.ErrBusy
}
func (d *deployer) Approve(context.Context, string, string) (*deploy.Release, error) {
	return nil, deploy.ErrNotAwaiting
}
func (d *deployer) Reject(context.Context, string, string) (*deploy.Release, error) {
	return nil, deploy.ErrNotAwaiting
}
func (d *deployer) Releases(_ context.Context, service, _ string) ([]deploy.Release, error) {
	return d.releases[service], nil
}
func (d *deployer) Status(context.Context) ([]deploy.ServiceStatus, error) { return d.status, nil }
func (d *deployer) Down(context.Context, string) ([]string, error)         { return nil, nil }

type fixed struct{ snap api.ConfigSnapshot }

func (f fixed) Current() api.ConfigSnapshot { return f.snap }
func (f fixed) Apply(context.Context) (api.ConfigSnapshot, bool, error) {
	return f.snap, false, nil
}

func svc(i int) string { return fmt.Sprintf("svc%02d", i) }

// BenchmarkPages prints, for each page, its server render time (median
// and worst of 20) and its weight with the stylesheet and the script.
func BenchmarkPages(b *testing.B) {
	dir := b.TempDir()
	now := time.Now()
	var y strings.Builder
	y.WriteString("version: 1\nproject: bench\nservices:\n")
	for i := range services {
		fmt.Fprintf(&y, "  %s: {run: ./app, routes: [%s.localhost]}\n", svc(i), svc(i))
	}
	y.WriteString("environments:\n  staging: {}\npipelines:\n  ci:\n    on: [manual]\n    jobs:\n")
	y.WriteString("      build: {run: make}\n      test: {needs: [build], run: make test}\n      lint: {needs: [build], run: make lint}\n      image: {needs: [test, lint], run: make image}\n      deploy: {needs: [image], run: make deploy}\n")
	cfgPath := filepath.Join(dir, "tug.yaml")
	if err := os.WriteFile(cfgPath, []byte(y.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Parse(cfgPath, []byte(y.String()), config.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	dep := &deployer{releases: map[string][]deploy.Release{}}
	for i := range services {
		st := deploy.ServiceStatus{Service: svc(i), Environment: "staging", Live: []deploy.LivePool{{Release: "r5", Weight: 100}}}
		for k := range instances {
			st.Instances = append(st.Instances, runtime.Instance{ID: fmt.Sprintf("%s-staging-r5-%d", svc(i), k+1), Service: svc(i), Environment: "staging",
				Release: "r5", State: runtime.Running, StartedAt: now.Add(-3 * time.Hour)})
		}
		dep.status = append(dep.status, st)
		for r := 5; r >= 1; r-- {
			dep.releases[svc(i)] = append(dep.releases[svc(i)], deploy.Release{ID: fmt.Sprintf("r%d", r), Service: svc(i), Environment: "staging",
				Status: deploy.StatusLive, Who: "ci", Strategy: "rolling", CreatedAt: now.Add(-time.Duration(r) * 4 * time.Hour)})
		}
	}

	mon, err := metrics.New(metrics.Options{Dir: filepath.Join(dir, "tsdb"), Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	t0 := time.Now()
	samples := writeDay(b, mon, now)
	fmt.Printf("wrote %d samples (%d services, a day every %s) in %s\n", samples, services, step, time.Since(t0).Round(time.Millisecond))
	eng, err := alert.New(context.Background(), alert.Options{Config: cfg, Queryable: mon.Storage(), Appendable: mon.Storage(), QueryEngine: mon.Engine()})
	if err != nil {
		b.Fatal(err)
	}
	queue, runID := runs(b, dir, cfgPath, cfg, now)
	h, err := api.NewHandler(api.Options{Deployer: dep, Config: fixed{api.ConfigSnapshot{Config: cfg, Source: []byte(y.String()), LoadedAt: now}},
		Alerts: func() *alert.Engine { return eng }, Monitor: mon, Runs: queue})
	if err != nil {
		b.Fatal(err)
	}
	dash, err := web.New(web.Options{API: h, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	srv := dash.Socket()
	get := func(path string) (int, []byte, time.Duration) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(&http.Cookie{Name: "tz", Value: "Europe/Paris"})
		start := time.Now()
		srv.ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes(), time.Since(start)
	}
	assets := 0
	for _, a := range []string{"/assets/style.css", "/assets/app.js"} {
		_, body, _ := get(a)
		assets += len(body)
	}
	fmt.Printf("\n%-44s %6s %10s %10s %10s %12s\n", "page", "status", "median", "worst", "page KB", "+assets KB")
	explore := []string{
		"/explore?range=1h&q=sum+by+(service)+(rate(tug_proxy_requests_total[5m]))",
		"/explore?range=24h&q=sum+by+(service)+(rate(tug_proxy_requests_total[5m]))",
	}
	for _, p := range append([]string{
		"/",
		"/services/svc07?env=staging&range=1h",
		"/services/svc07?env=staging&range=24h",
		"/pipelines",
		fmt.Sprintf("/runs/%d", runID),
		"/alerts",
	}, explore...) {
		var times []time.Duration
		var size, status int
		for range renders {
			st, body, d := get(p)
			times, size, status = append(times, d), len(body), st
		}
		slices.Sort(times)
		med, worst := times[len(times)/2], times[len(times)-1]
		total := float64(size+assets) / 1024
		verdict := "ok"
		if med > 100*time.Millisecond || total > 150 {
			verdict = "OVER BUDGET"
		}
		fmt.Printf("%-44s %6d %10s %10s %10.1f %12.1f  %s\n", p, status, med.Round(10*time.Microsecond), worst.Round(10*time.Microsecond), float64(size)/1024, total, verdict)
	}
	// The explorer's time is its query's: the same range query through
	// the API alone, beside it.
	c := api.InProcess(h)
	for _, q := range explore {
		u, _ := url.Parse(q)
		rng, _ := time.ParseDuration(u.Query().Get("range"))
		var times []time.Duration
		for range renders {
			start := time.Now()
			_, err := c.QueryRange(context.Background(), metrics.RangeParams{Query: u.Query().Get("q"),
				Start: strconv.FormatInt(now.Add(-rng).Unix(), 10), End: strconv.FormatInt(now.Unix(), 10),
				Step: strconv.FormatFloat((rng / web.ChartPoints).Seconds(), 'f', -1, 64)})
			if err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		fmt.Printf("%-44s %6s %10s %10s   (the explorer's range query through the API alone)\n", "api query_range "+u.Query().Get("range"), "", times[len(times)/2].Round(10*time.Microsecond), times[len(times)-1].Round(10*time.Microsecond))
	}
	fmt.Printf("\nassets (style.css + app.js): %.1f KB; budgets: median render < 100 ms, page + assets < 150 KB\n", float64(assets)/1024)
}

// writeDay writes a day of the series the service pages chart: request
// counters by code, a latency histogram, and each instance's CPU, memory
// and restarts.
func writeDay(b *testing.B, mon *metrics.Monitor, now time.Time) int {
	buckets := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "+Inf"}
	points := int(24 * time.Hour / step)
	n := 0
	// In time order across services: the TSDB's head takes samples only
	// up to an hour older than the newest.
	for p := 0; p <= points; p += 60 {
		app := mon.Storage().Appender(context.Background())
		for i := range services {
			base := []string{"service", svc(i), "environment", "staging", "release", "r5"}
			add := func(v float64, ts int64, kv ...string) {
				if _, err := app.Append(0, labels.FromStrings(append(slices.Clone(base), kv...)...), ts, v); err != nil {
					b.Fatal(err)
				}
				n++
			}
			for q := p; q < min(p+60, points+1); q++ {
				ts := now.Add(-24*time.Hour + time.Duration(q)*step).UnixMilli()
				c := float64(q)
				add(c*150, ts, "__name__", "tug_proxy_requests_total", "code", "200")
				add(c*2, ts, "__name__", "tug_proxy_requests_total", "code", "500")
				for j, le := range buckets {
					add(c*150*float64(j+1)/float64(len(buckets)), ts, "__name__", "tug_proxy_request_duration_seconds_bucket", "le", le)
				}
				for k := range instances {
					inst := fmt.Sprintf("%s-staging-r5-%d", svc(i), k+1)
					add(c*0.3, ts, "__name__", "tug_instance_cpu_seconds_total", "instance", inst)
					add(40<<20+float64(q%100)*1024, ts, "__name__", "tug_instance_resident_memory_bytes", "instance", inst)
					add(0, ts, "__name__", "tug_instance_restarts_total", "instance", inst)
				}
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return n
}

// runs records 50 runs of ci in a store, the last with a log of 2,000
// lines, and opens the run queue over it.
func runs(b *testing.B, dir, cfgPath string, cfg *config.Config, now time.Time) (*runner.Queue, int64) {
	ctx := context.Background()
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		b.Fatalf("git init: %v %s", err, out)
	}
	st, err := store.Open(ctx, filepath.Join(dir, ".tug"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var last int64
	jobs := []string{"build", "test", "lint", "image", "deploy"}
	for r := range 50 {
		start := now.Add(-time.Duration(50-r) * 10 * time.Minute)
		id, err := st.CreateRun(ctx, &store.Run{Pipeline: "ci", Status: store.StatusRunning, Branch: "main", Commit: fmt.Sprintf("%040x", r), Event: "manual", Origin: "manual", StartedAt: start})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.PutJobs(ctx, id, jobs); err != nil {
			b.Fatal(err)
		}
		for _, j := range jobs {
			if err := st.FinishJob(ctx, id, j, store.StatusSuccess, "", nil, start.Add(time.Minute), nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.FinishRun(ctx, id, store.StatusSuccess, start.Add(2*time.Minute)); err != nil {
			b.Fatal(err)
		}
		last = id
	}
	var lines []store.LogLine
	for i := range 2000 {
		lines = append(lines, store.LogLine{Job: jobs[i%len(jobs)], Attempt: 1, Time: now, Line: fmt.Sprintf("step %d: compiling package %d of the project", i, i)})
	}
	if err := st.AppendLogs(ctx, last, lines); err != nil {
		b.Fatal(err)
	}
	q, err := runner.NewQueue(ctx, runner.QueueOptions{Store: st, StateDir: filepath.Join(dir, ".tug"), ConfigPath: cfgPath, Config: func() *config.Config { return cfg }})
	if err != nil {
		b.Fatal(err)
	}
	return q, last
}
