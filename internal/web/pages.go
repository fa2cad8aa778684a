package web

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/deploy"
	"github.com/tugdev/tug/internal/incident"
	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/runtime"
)

// routes are the dashboard's pages, forms and assets.
func (d *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	assets, _ := fs.Sub(files, "assets")
	fsrv := http.FileServerFS(assets)
	m.Handle("GET /assets/", http.StripPrefix("/assets/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})))
	m.HandleFunc("GET /login", d.loginPage)
	m.HandleFunc("POST /login", d.loginPage)
	m.HandleFunc("POST /logout", d.logout)
	m.Handle("GET /{$}", &liveHandler{d: d, tmpl: "overview", parts: []string{"services", "side"}, build: d.overview})
	m.Handle("GET /services/{name}", &liveHandler{d: d, tmpl: "service", parts: []string{"state", "charts"}, slow: []string{"charts"}, build: d.service, follow: d.followServiceLogs})
	m.HandleFunc("POST /services/{name}/deploy", d.deploy)
	m.HandleFunc("POST /services/{name}/rollback", d.rollback)
	m.HandleFunc("POST /releases/{id}/approve", d.approve)
	m.HandleFunc("POST /releases/{id}/reject", d.approve)
	d.pipelineRoutes(m)
	d.alertRoutes(m)
	m.Handle("GET /dashboards", &liveHandler{d: d, tmpl: "dashboards", build: d.dashboards})
	m.Handle("GET /dashboards/{name}", &liveHandler{d: d, tmpl: "dashboards", parts: []string{"panels"}, slow: []string{"panels"}, build: d.dashboards})
	m.Handle("GET /explore", &liveHandler{d: d, tmpl: "explore", build: d.explore})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.errorPage(w, r, viewerOf(r.Context()), http.StatusNotFound, "no page at "+r.URL.Path)
	})
	return m
}

// health of a service in an environment.
const (
	healthUp       = "up"
	healthDegraded = "degraded"
	healthDown     = "down"
	healthNone     = "not deployed"
)

// healthOf says how a deployed service fares: up when every instance
// runs, degraded when some do, down when none does.
func healthOf(st *deploy.ServiceStatus) string {
	if st == nil || (len(st.Instances) == 0 && len(st.Live) == 0) {
		return healthNone
	}
	running := 0
	for _, in := range st.Instances {
		if in.State == runtime.Running && !in.CrashLoop {
			running++
		}
	}
	switch {
	case running == 0:
		return healthDown
	case running < len(st.Instances):
		return healthDegraded
	}
	return healthUp
}

// cell is one service in one environment on the overview.
type cell struct {
	Env       string
	Health    string
	Live      []deploy.LivePool
	Deploying *deploy.Release
	Instances int
}

type serviceRow struct {
	Name, Strategy, Runtime string
	Cells                   []cell
}

type overviewData struct {
	Project      string
	Environments []api.EnvironmentInfo
	Services     []serviceRow
	Firing       map[string]int
	Alerts       []*alert.Alert
	Incidents    []incident.Incident
	Deploys      []deploy.Release
	Host         []hostFigure
	Problems     []string
}

type hostFigure struct {
	Name  string
	Value float64
	OK    bool
}

// overview is the home page: every service in every environment with
// its health and live release, alerts, incidents, recent deploys, the
// host.
func (d *Handler) overview(r *http.Request) (string, any, error) {
	ctx := r.Context()
	st, err := d.client.Status(ctx)
	if err != nil {
		return "", nil, err
	}
	data := overviewData{Project: st.Project, Environments: st.Environments, Firing: map[string]int{}}
	live := map[[2]string]*deploy.ServiceStatus{}
	for i := range st.Live {
		live[[2]string{st.Live[i].Service, st.Live[i].Environment}] = &st.Live[i]
	}
	for _, s := range st.Services {
		row := serviceRow{Name: s.Name, Strategy: s.Strategy, Runtime: s.Runtime}
		for _, e := range st.Environments {
			ls := live[[2]string{s.Name, e.Name}]
			c := cell{Env: e.Name, Health: healthOf(ls)}
			if ls != nil {
				c.Live, c.Deploying, c.Instances = ls.Live, ls.Deploying, len(ls.Instances)
			}
			row.Cells = append(row.Cells, c)
		}
		data.Services = append(data.Services, row)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	problem := func(what string, err error) {
		mu.Lock()
		data.Problems = append(data.Problems, what+": "+err.Error())
		mu.Unlock()
	}
	wg.Go(func() {
		alerts, err := d.client.Alerts(ctx)
		if err != nil {
			problem("alerts", err)
			return
		}
		for _, a := range alerts {
			if a.State == "firing" {
				data.Firing[cmp.Or(a.SeverityName, a.Severity)]++
				data.Alerts = append(data.Alerts, a)
			}
		}
	})
	wg.Go(func() {
		inc, err := d.client.Incidents(ctx, incident.ListParams{State: "open", Limit: 20})
		if err != nil {
			problem("incidents", err)
			return
		}
		data.Incidents = inc
	})
	wg.Go(func() { data.Deploys = d.recentDeploys(ctx, st.Services, 10) })
	wg.Go(func() { data.Host = d.host(ctx) })
	wg.Wait()
	return "Overview", data, nil
}

// recentDeploys are the n newest releases of every service.
func (d *Handler) recentDeploys(ctx context.Context, services []api.ServiceInfo, n int) []deploy.Release {
	var all []deploy.Release
	for _, s := range services {
		rels, err := d.client.Releases(ctx, s.Name, "")
		if err != nil {
			continue
		}
		all = append(all, rels[:min(n, len(rels))]...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].CreatedAt.After(all[j].CreatedAt) })
	return all[:min(n, len(all))]
}

// host is the machine's CPU, memory and disk use now: the last values
// of HostPanels (the root filesystem's, for the disk).
func (d *Handler) host(ctx context.Context) []hostFigure {
	var out []hostFigure
	for _, p := range HostPanels() {
		f := hostFigure{Name: strings.TrimPrefix(p.Title, "Host ")}
		vec, err := d.instant(ctx, p.Targets[0].Expr)
		for _, s := range vec {
			if mp, ok := s.Metric["mountpoint"]; !f.OK || (ok && mp == "/") {
				f.Value, f.OK = float64(s.Value)/100, err == nil
			}
		}
		out = append(out, f)
	}
	return out
}

type serviceData struct {
	Name, Env  string
	Info       api.ServiceInfo
	Envs       []string
	Status     *deploy.ServiceStatus
	Health     string
	Releases   []deploy.Release
	Charts     []Chart
	Range      string
	Ranges     []string
	Grep       string
	Logs       []logLine
	LogsErr    string
	Flash      string
	Deploying  bool
	CanaryLive bool
}

// ranges a chart may span.
var ranges = []string{"15m", "1h", "6h", "24h"}

func rangeOf(r *http.Request) (string, time.Duration) {
	s := r.URL.Query().Get("range")
	if !slices.Contains(ranges, s) {
		s = "1h"
	}
	d, _ := time.ParseDuration(strings.Replace(s, "24h", "24h0m", 1))
	return s, d
}

// service is a service's page in one environment.
func (d *Handler) service(r *http.Request) (string, any, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	st, err := d.client.Status(ctx)
	if err != nil {
		return "", nil, err
	}
	i := slices.IndexFunc(st.Services, func(s api.ServiceInfo) bool { return s.Name == name })
	if i < 0 {
		return "", nil, errNotFoundf("no service named %q", name)
	}
	data := serviceData{Name: name, Info: st.Services[i], Grep: r.URL.Query().Get("grep"), Flash: r.URL.Query().Get("flash")}
	for _, e := range st.Environments {
		data.Envs = append(data.Envs, e.Name)
		if e.Default && data.Env == "" {
			data.Env = e.Name
		}
	}
	if e := r.URL.Query().Get("env"); e != "" {
		if !slices.Contains(data.Envs, e) {
			return "", nil, errNotFoundf("no environment named %q", e)
		}
		data.Env = e
	}
	for j := range st.Live {
		if st.Live[j].Service == name && st.Live[j].Environment == data.Env {
			data.Status = &st.Live[j]
		}
	}
	data.Health = healthOf(data.Status)
	data.Deploying = data.Status != nil && data.Status.Deploying != nil
	data.CanaryLive = data.Status != nil && len(data.Status.Live) > 1
	rels, err := d.client.Releases(ctx, name, data.Env)
	if err != nil {
		return "", nil, err
	}
	data.Releases = rels[:min(len(rels), 15)]
	var dur time.Duration
	data.Range, dur = rangeOf(r)
	data.Ranges = ranges
	to := d.now()
	if wants(r, "charts") {
		data.Charts = d.serviceCharts(ctx, name, data.Env, to.Add(-dur), to, rels, location(r))
	}
	if wants(r, "logs") {
		data.Logs, data.LogsErr = d.logTail(ctx, name, data.Env, data.Grep)
	}
	return name, data, nil
}

// serviceCharts are the service's panels (ServicePanels: RED per
// release, so a canary's new release shows beside the old one, and its
// instances' CPU, memory and restarts), with its deploys marked.
func (d *Handler) serviceCharts(ctx context.Context, svc, env string, from, to time.Time, rels []deploy.Release, loc *time.Location) []Chart {
	var markers []Marker
	for _, r := range rels {
		markers = append(markers, Marker{Label: "deploy " + r.ID + " by " + r.Who + " (" + r.Status + ")", T: r.CreatedAt})
	}
	return d.panelCharts(ctx, ServicePanels(svc, env), from, to, loc, markers)
}

// logLine is a log line as the pages show it.
type logLine struct {
	Time     time.Time
	Release  string
	Instance string
	Stream   string
	Text     string
}

// logTail is the newest lines of a service in env matching grep.
func (d *Handler) logTail(ctx context.Context, svc, env, grep string) ([]logLine, string) {
	var out []logLine
	err := d.client.Logs(ctx, logsParams(svc, env, grep, false), func(l logsLine) error {
		out = append(out, toLogLine(l))
		return nil
	})
	if err != nil {
		return out, queryError(err)
	}
	return out, ""
}

// followServiceLogs sends the log tail again (a page that reconnects
// after a restart may have missed lines), then appends each line stored
// after it.
func (d *Handler) followServiceLogs(ctx context.Context, r *http.Request, p *page, send func(event) error) error {
	name := r.PathValue("name")
	env, grep := r.URL.Query().Get("env"), r.URL.Query().Get("grep")
	if env == "" { // the page's default: the default environment
		st, err := d.client.Status(ctx)
		if err != nil {
			return err
		}
		for _, e := range st.Environments {
			if e.Default {
				env = e.Name
			}
		}
	}
	since := d.now()
	tail, _ := d.logTail(ctx, name, env, grep)
	if n := len(tail); n > 0 {
		since = tail[n-1].Time.Add(time.Nanosecond)
	}
	p.Data = serviceData{Logs: tail}
	html, err := d.fragment("service", "logs", p)
	if err != nil {
		return err
	}
	if err := send(event{ID: "logs", HTML: html}); err != nil {
		return err
	}
	params := logsParams(name, env, grep, true)
	params.Since = since.UTC().Format(time.RFC3339Nano)
	return d.client.Logs(ctx, params, func(l logsLine) error {
		p.Data = toLogLine(l)
		html, err := d.fragment("service", "logline", p)
		if err != nil {
			return err
		}
		return send(event{Append: "logs", HTML: html})
	})
}

type logsLine = logs.Line

func logsParams(svc, env, grep string, follow bool) logs.Params {
	return logs.Params{Service: svc, Env: env, Grep: grep, Limit: 200, Follow: follow}
}

func toLogLine(l logs.Line) logLine {
	return logLine{Time: l.Time, Release: l.Release, Instance: l.Instance, Stream: l.Stream, Text: l.Text}
}

// errNotFoundf is a 404 page's error.
func errNotFoundf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errNotFound}, args...)...)
}
