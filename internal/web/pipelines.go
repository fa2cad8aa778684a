package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/tugdev/tug/internal/runner"
)

func (d *Handler) pipelineRoutes(m *http.ServeMux) {
	m.Handle("GET /pipelines", &liveHandler{d: d, tmpl: "pipelines", parts: []string{"runs"}, build: d.runs})
	m.Handle("GET /runs/{id}", &liveHandler{d: d, tmpl: "run", parts: []string{"jobs"}, build: d.run, follow: d.followRun})
}

type runsData struct {
	Pipeline string
	Runs     []runner.RunInfo
}

// runs lists the newest runs, of one pipeline with ?pipeline=.
func (d *Handler) runs(r *http.Request) (string, any, error) {
	p := r.URL.Query().Get("pipeline")
	runs, err := d.client.Runs(r.Context(), runner.ListParams{Limit: 50, Pipeline: p})
	if err != nil {
		return "", nil, err
	}
	return "Pipelines", runsData{Pipeline: p, Runs: runs}, nil
}

type runData struct {
	Run  *runner.RunInfo
	DAG  template.HTML
	Jobs []jobRow
	Log  []runner.LogEvent
	// Earlier counts the log lines before those shown.
	Earlier int
}

// logShown is how many of a run's last log lines its page shows, unless
// asked for all.
const logShown = 500

// runLog is the run's stored log: its last logShown lines (all of them
// with all), how many come before those, and how many there are.
func (d *Handler) runLog(ctx context.Context, id int64, all bool) (shown []runner.LogEvent, earlier, total int, err error) {
	var lines []runner.LogEvent
	err = d.client.RunLog(ctx, id, "", func(e runner.LogEvent) error {
		if e.Line != "" || e.Job != "" {
			lines = append(lines, e)
		}
		return nil
	})
	if !all && len(lines) > logShown {
		return lines[len(lines)-logShown:], len(lines) - logShown, len(lines), err
	}
	return lines, 0, len(lines), err
}

// jobRow is a job of a run with what its pipeline declares about it.
type jobRow struct {
	runner.JobInfo
	Needs     []string
	Artifacts []string
}

// runID reads the {id} of a run's page: anything but a number names no
// run.
func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFoundf("no run %q", r.PathValue("id"))
	}
	return id, nil
}

// run is one run: its DAG with the jobs' states, their reports, the log.
func (d *Handler) run(r *http.Request) (string, any, error) {
	id, err := runID(r)
	if err != nil {
		return "", nil, err
	}
	ctx := r.Context()
	info, err := d.client.Run(ctx, id)
	if err != nil {
		return "", nil, err
	}
	decl := d.pipelineDecl(ctx, info.Pipeline)
	data := runData{Run: info}
	for _, j := range info.Jobs {
		data.Jobs = append(data.Jobs, jobRow{JobInfo: j, Needs: decl.needs(j.Name, info.Jobs), Artifacts: decl.artifacts(j.Name)})
	}
	data.DAG = drawDAG(data.Jobs)
	if r.Header.Get("Accept") != "text/event-stream" {
		data.Log, data.Earlier, _, _ = d.runLog(ctx, id, r.URL.Query().Get("log") == "all")
	}
	return fmt.Sprintf("Run %d · %s", info.ID, info.Pipeline), data, nil
}

// followRun sends the run's log as the page shows it, then each line as
// the run stores it.
func (d *Handler) followRun(ctx context.Context, r *http.Request, p *page, send func(event) error) error {
	id, err := runID(r)
	if err != nil {
		return err
	}
	// The log as the page shows it, again (a page that reconnects after a
	// restart may have missed lines), then the lines stored after it: the
	// followed log starts with the lines already sent.
	log, _, skip, err := d.runLog(ctx, id, r.URL.Query().Get("log") == "all")
	if err != nil {
		return err
	}
	p.Data = runData{Log: log}
	html, err := d.fragment("run", "log", p)
	if err != nil {
		return err
	}
	if err := send(event{ID: "log", HTML: html}); err != nil {
		return err
	}
	return d.client.FollowRun(ctx, id, "", func(e runner.LogEvent) {
		if e.Line == "" && e.Job == "" {
			return
		}
		if skip > 0 {
			skip--
			return
		}
		p.Data = e
		html, err := d.fragment("run", "runline", p)
		if err == nil {
			_ = send(event{Append: "log", HTML: html})
		}
	})
}

// pipelineDecl is what tug.yaml in force declares about a pipeline's
// jobs (needs, stages, artifacts), read through the config API.
type pipelineDecl struct {
	Stages []string `json:"stages"`
	Jobs   map[string]struct {
		Stage     string    `json:"stage"`
		Needs     *[]string `json:"needs"`
		Artifacts []string  `json:"artifacts"`
	} `json:"jobs"`
}

func (d *Handler) pipelineDecl(ctx context.Context, name string) pipelineDecl {
	var out pipelineDecl
	cfg, err := d.client.Config(ctx)
	if err != nil {
		return out
	}
	var doc struct {
		Pipelines map[string]pipelineDecl `json:"pipelines"`
	}
	if json.Unmarshal(cfg.Config, &doc) == nil {
		out = doc.Pipelines[name]
	}
	return out
}

// baseName is a job's name without its matrix values ("test[go=1.26]").
func baseName(job string) string {
	b, _, _ := strings.Cut(job, "[")
	return b
}

// needs are the jobs of run that job waits for: those its needs name,
// else those of the earlier stages.
func (p pipelineDecl) needs(job string, run []runner.JobInfo) []string {
	j, ok := p.Jobs[baseName(job)]
	if !ok {
		return nil
	}
	want := map[string]bool{}
	if j.Needs != nil {
		for _, n := range *j.Needs {
			want[n] = true
		}
	} else if j.Stage != "" {
		for _, st := range p.Stages {
			if st == j.Stage {
				break
			}
			for name, o := range p.Jobs {
				if o.Stage == st {
					want[name] = true
				}
			}
		}
	}
	var out []string
	for _, o := range run {
		if want[baseName(o.Name)] && o.Name != job {
			out = append(out, o.Name)
		}
	}
	return out
}

func (p pipelineDecl) artifacts(job string) []string { return p.Jobs[baseName(job)].Artifacts }
