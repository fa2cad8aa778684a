package cli

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
	"github.com/tugdev/tug/internal/pipeline"
)

// graphJob is one job instance of `tug run --graph --json`.
type graphJob struct {
	Name   string            `json:"name"`
	Job    string            `json:"job"`
	Stage  string            `json:"stage,omitempty"`
	Needs  []string          `json:"needs"`
	Matrix map[string]string `json:"matrix,omitempty"`
	When   string            `json:"when,omitempty"`
}

// printGraph prints plan's DAG without running anything: as text (stages,
// jobs, what each needs), Graphviz DOT, Mermaid, or JSON.
func (a *app) printGraph(p *config.Pipeline, plan *pipeline.Plan, format string) error {
	if a.jsonOut {
		jobs := make([]graphJob, len(plan.Jobs))
		for i, j := range plan.Jobs {
			jobs[i] = graphJob{Name: j.Name, Job: j.Base, Stage: j.Config.Stage, Needs: append([]string{}, j.Needs...), Matrix: j.Matrix, When: j.Config.When}
		}
		return json.NewEncoder(a.out).Encode(map[string]any{"pipeline": plan.Pipeline, "on": p.Events(), "stages": p.Stages, "jobs": jobs})
	}
	var out string
	switch format {
	case "text":
		out = graphText(p, plan)
	case "dot":
		out = graphDOT(plan)
	case "mermaid":
		out = graphMermaid(plan)
	default:
		return badInputf("--format %q: want text, dot or mermaid%s", format, kit.DidYouMean(format, []string{"text", "dot", "mermaid"}))
	}
	_, err := fmt.Fprint(a.out, out)
	return err
}

// groupedNeeds shortens needs for people: every cell of a matrix job
// becomes the job's name ("test" for test[go=1.25] and test[go=1.26]).
func groupedNeeds(plan *pipeline.Plan, needs []string) []string {
	cells := map[string][]string{}
	for _, j := range plan.Jobs {
		cells[j.Base] = append(cells[j.Base], j.Name)
	}
	var out []string
	for _, n := range needs {
		base, _, _ := strings.Cut(n, "[")
		all := len(cells[base]) > 1
		for _, c := range cells[base] {
			all = all && slices.Contains(needs, c)
		}
		if all {
			if !slices.Contains(out, base) {
				out = append(out, base)
			}
			continue
		}
		out = append(out, n)
	}
	return out
}

// jobNotes are what a job's line says besides its name.
func jobNotes(j *pipeline.Job) []string {
	var notes []string
	c := j.Config
	if c.When == "manual" {
		notes = append(notes, "manual")
	} else if c.When != "" && c.When != "on_success" {
		notes = append(notes, "when "+c.When)
	}
	if c.If != "" {
		notes = append(notes, "if "+c.If)
	}
	if c.AllowFailure {
		notes = append(notes, "may fail")
	}
	if j.Image != "" {
		notes = append(notes, "in "+j.Image)
	}
	if c.Deploy != nil {
		d := "deploys " + c.Deploy.Service
		if c.Deploy.Environment != "" {
			d += " to " + c.Deploy.Environment
		}
		notes = append(notes, d)
	}
	if c.BuildImage != nil {
		notes = append(notes, "builds image "+c.BuildImage.Name)
	}
	return notes
}

func graphText(p *config.Pipeline, plan *pipeline.Plan) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline %s", plan.Pipeline)
	if ev := p.Events(); len(ev) > 0 {
		fmt.Fprintf(&b, " (on %s)", joinOr(ev))
	}
	b.WriteString("\n")
	width := 0
	for _, j := range plan.Jobs {
		width = max(width, len(j.Name))
	}
	line := func(indent string, j *pipeline.Job) {
		var tail []string
		if needs := groupedNeeds(plan, j.Needs); len(needs) > 0 {
			tail = append(tail, "<- "+strings.Join(needs, ", "))
		}
		if notes := jobNotes(j); len(notes) > 0 {
			tail = append(tail, "("+strings.Join(notes, "; ")+")")
		}
		if len(tail) == 0 {
			fmt.Fprintf(&b, "%s%s\n", indent, j.Name)
			return
		}
		fmt.Fprintf(&b, "%s%-*s  %s\n", indent, width, j.Name, strings.Join(tail, "  "))
	}
	if len(p.Stages) == 0 {
		for _, j := range plan.Jobs {
			line("  ", j)
		}
		return b.String()
	}
	for _, st := range append(slices.Clone(p.Stages), "") {
		var in []*pipeline.Job
		for _, j := range plan.Jobs {
			if j.Config.Stage == st {
				in = append(in, j)
			}
		}
		if len(in) == 0 {
			continue
		}
		if st == "" {
			b.WriteString("  (no stage)\n")
		} else {
			fmt.Fprintf(&b, "  stage %s\n", st)
		}
		for _, j := range in {
			line("    ", j)
		}
	}
	return b.String()
}

// graphDOT is the plan as a Graphviz digraph, stages as clusters, an edge
// from each need to the job that waits for it.
func graphDOT(plan *pipeline.Plan) string {
	q := func(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n  rankdir=LR;\n  node [shape=box];\n", q(plan.Pipeline))
	for i, st := range stagesOf(plan) {
		if st == "" {
			for _, j := range plan.Jobs {
				if j.Config.Stage == "" {
					fmt.Fprintf(&b, "  %s;\n", q(j.Name))
				}
			}
			continue
		}
		fmt.Fprintf(&b, "  subgraph cluster_%d {\n    label=%s;\n", i, q(st))
		for _, j := range plan.Jobs {
			if j.Config.Stage == st {
				fmt.Fprintf(&b, "    %s;\n", q(j.Name))
			}
		}
		b.WriteString("  }\n")
	}
	for _, j := range plan.Jobs {
		for _, n := range j.Needs {
			fmt.Fprintf(&b, "  %s -> %s;\n", q(n), q(j.Name))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// graphMermaid is the plan as a Mermaid flowchart, stages as subgraphs.
func graphMermaid(plan *pipeline.Plan) string {
	id := map[string]string{}
	for i, j := range plan.Jobs {
		id[j.Name] = fmt.Sprintf("j%d", i)
	}
	label := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, "#quot;") + `"` }
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for i, st := range stagesOf(plan) {
		indent := "  "
		if st != "" {
			fmt.Fprintf(&b, "  subgraph s%d [%s]\n", i, label(st))
			indent = "    "
		}
		for _, j := range plan.Jobs {
			if j.Config.Stage == st {
				fmt.Fprintf(&b, "%s%s[%s]\n", indent, id[j.Name], label(j.Name))
			}
		}
		if st != "" {
			b.WriteString("  end\n")
		}
	}
	for _, j := range plan.Jobs {
		for _, n := range j.Needs {
			fmt.Fprintf(&b, "  %s --> %s\n", id[n], id[j.Name])
		}
	}
	return b.String()
}

// stagesOf lists the stages the plan's jobs are in, in first-use order.
func stagesOf(plan *pipeline.Plan) []string {
	var out []string
	for _, j := range plan.Jobs {
		if !slices.Contains(out, j.Config.Stage) {
			out = append(out, j.Config.Stage)
		}
	}
	return out
}
