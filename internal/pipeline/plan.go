package pipeline

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
)

// ErrUnknownPipeline means the named pipeline is not in tug.yaml.
var ErrUnknownPipeline = errors.New("unknown pipeline")

// ErrInvalidPlan means a pipeline cannot be turned into a DAG (a cycle, an
// unknown need, a bad matrix reference). Config validation reports these
// first; the planner checks again so a bad Config never runs.
var ErrInvalidPlan = errors.New("invalid pipeline")

// NewPlan expands pipeline of cfg into job instances (one per matrix cell),
// resolves needs (explicit, or implied by stages) to instance names and
// orders the jobs topologically, keeping declaration order where free.
func NewPlan(cfg *config.Config, pipeline string) (*Plan, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: no config", ErrInvalidPlan)
	}
	p := cfg.Pipelines[pipeline]
	if p == nil {
		return nil, unknownPipeline(cfg, pipeline)
	}
	order := declOrder(p.JobOrder, p.Jobs)

	instances := map[string][]*Job{} // base name -> its instances
	var all []*Job
	for _, base := range order {
		cj := p.Jobs[base]
		if cj == nil {
			return nil, fmt.Errorf("%w: pipeline %s: job %s is empty", ErrInvalidPlan, pipeline, base)
		}
		jobs, err := expand(p, base, cj)
		if err != nil {
			return nil, fmt.Errorf("%w: pipeline %s: job %s: %v", ErrInvalidPlan, pipeline, base, err)
		}
		instances[base] = jobs
		all = append(all, jobs...)
	}
	byName := map[string]*Job{}
	for _, j := range all {
		if _, dup := byName[j.Name]; dup {
			return nil, fmt.Errorf("%w: pipeline %s: two jobs are named %s", ErrInvalidPlan, pipeline, j.Name)
		}
		byName[j.Name] = j
	}

	stageIndex := map[string]int{}
	for i, s := range p.Stages {
		stageIndex[s] = i
	}
	for _, base := range order {
		cj := p.Jobs[base]
		needs, err := resolveNeeds(p, base, cj, order, stageIndex, instances, byName)
		if err != nil {
			return nil, fmt.Errorf("%w: pipeline %s: job %s: %v", ErrInvalidPlan, pipeline, base, err)
		}
		for _, j := range instances[base] {
			j.Needs = slices.Clone(needs)
		}
	}
	sorted, err := topoSort(all, byName)
	if err != nil {
		return nil, fmt.Errorf("%w: pipeline %s: %v", ErrInvalidPlan, pipeline, err)
	}
	plan := &Plan{Pipeline: pipeline, Jobs: sorted}
	if cfg.Server != nil && cfg.Server.Registry != nil {
		plan.Registry = cfg.Server.Registry.Listen
	}
	return plan, nil
}

// declOrder is the declared order of keys, falling back to sorted order
// for keys the order does not list.
func declOrder[V any](declared []string, m map[string]V) []string {
	var out []string
	seen := map[string]bool{}
	for _, k := range declared {
		if _, ok := m[k]; ok && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

func unknownPipeline(cfg *config.Config, name string) error {
	names := declOrder(cfg.PipelineOrder, cfg.Pipelines)
	if len(names) == 0 {
		return fmt.Errorf("%w %q: tug.yaml defines no pipelines", ErrUnknownPipeline, name)
	}
	return fmt.Errorf("%w %q%s; available: %s", ErrUnknownPipeline, name, kit.DidYouMean(name, names), strings.Join(names, ", "))
}

// resolveNeeds turns base's needs into instance names: a need on a matrix
// job means all its instances. Without needs (nil, not an empty list) a job
// in a later stage needs every job of all earlier stages.
func resolveNeeds(p *config.Pipeline, base string, cj *config.Job, order []string, stageIndex map[string]int, instances map[string][]*Job, byName map[string]*Job) ([]string, error) {
	var needs []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			needs = append(needs, name)
		}
	}
	if cj.Needs != nil {
		for _, n := range cj.Needs {
			switch {
			case n == base:
				return nil, fmt.Errorf("needs itself")
			case instances[n] != nil || p.Jobs[n] != nil:
				for _, j := range instances[n] {
					add(j.Name)
				}
			case byName[n] != nil:
				add(n)
			default:
				return nil, fmt.Errorf("needs unknown job %q%s", n, kit.DidYouMean(n, order))
			}
		}
		return needs, nil
	}
	if len(p.Stages) == 0 || cj.Stage == "" {
		return nil, nil
	}
	mine, ok := stageIndex[cj.Stage]
	if !ok {
		return nil, fmt.Errorf("stage %q is not in the pipeline's stages (%s)", cj.Stage, strings.Join(p.Stages, ", "))
	}
	for _, other := range order {
		idx, ok := stageIndex[p.Jobs[other].Stage]
		if !ok || p.Jobs[other].Stage == "" || idx >= mine {
			continue
		}
		for _, j := range instances[other] {
			add(j.Name)
		}
	}
	return needs, nil
}

// topoSort orders jobs so every job comes after its needs; among jobs that
// are free to go, the one declared first goes first (Kahn's algorithm).
func topoSort(jobs []*Job, byName map[string]*Job) ([]*Job, error) {
	indeg := make(map[string]int, len(jobs))
	dependents := map[string][]string{}
	for _, j := range jobs {
		indeg[j.Name] += 0
		for _, n := range j.Needs {
			if byName[n] == nil {
				return nil, fmt.Errorf("job %s needs unknown job %q", j.Name, n)
			}
			indeg[j.Name]++
			dependents[n] = append(dependents[n], j.Name)
		}
	}
	pos := make(map[string]int, len(jobs))
	for i, j := range jobs {
		pos[j.Name] = i
	}
	var ready []string
	for _, j := range jobs {
		if indeg[j.Name] == 0 {
			ready = append(ready, j.Name)
		}
	}
	out := make([]*Job, 0, len(jobs))
	for len(ready) > 0 {
		slices.SortFunc(ready, func(a, b string) int { return pos[a] - pos[b] })
		n := ready[0]
		ready = ready[1:]
		out = append(out, byName[n])
		for _, d := range dependents[n] {
			if indeg[d]--; indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	if len(out) != len(jobs) {
		var stuck []string
		for _, j := range jobs {
			if indeg[j.Name] > 0 {
				stuck = append(stuck, j.Name)
			}
		}
		return nil, fmt.Errorf("needs form a cycle through %s", strings.Join(stuck, ", "))
	}
	return out, nil
}

// substitute replaces ${{ matrix.key }} in s by the cell's value.
func substitute(s string, cell map[string]string) (string, error) {
	matrixRef := config.MatrixRef()
	var bad []string
	out := matrixRef.ReplaceAllStringFunc(s, func(ref string) string {
		key := matrixRef.FindStringSubmatch(ref)[1]
		v, ok := cell[key]
		if !ok {
			bad = append(bad, key)
			return ref
		}
		return v
	})
	if len(bad) > 0 {
		if len(cell) == 0 {
			return "", fmt.Errorf("${{ matrix.%s }} used but the job has no matrix", bad[0])
		}
		return "", fmt.Errorf("${{ matrix.%s }}: the matrix has no key %q (keys: %s)", bad[0], bad[0], strings.Join(slices.Sorted(maps.Keys(cell)), ", "))
	}
	return out, nil
}

// script joins a job's run and steps into one bash script.
func script(cj *config.Job) string {
	var b strings.Builder
	if cj.Run != "" {
		b.WriteString(cj.Run)
		if !strings.HasSuffix(cj.Run, "\n") {
			b.WriteByte('\n')
		}
	}
	for i, st := range cj.Steps {
		name := st.Name
		if name == "" {
			name = fmt.Sprintf("%d", i+1)
		}
		fmt.Fprintf(&b, "# step: %s\n", strings.ReplaceAll(name, "\n", " "))
		b.WriteString(st.Run)
		if !strings.HasSuffix(st.Run, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// MatrixEnvName is the variable a matrix key is exported as: MATRIX_ and
// the key upper-cased, with anything not a letter or digit turned into _.
func MatrixEnvName(key string) string {
	var b strings.Builder
	b.WriteString("MATRIX_")
	for _, r := range strings.ToUpper(key) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// expand turns one config job into its instances.
func expand(p *config.Pipeline, base string, cj *config.Job) ([]*Job, error) {
	cells, names, err := matrixCells(base, cj.Matrix)
	if err != nil {
		return nil, err
	}
	jobs := make([]*Job, 0, len(cells))
	for i, cell := range cells {
		j := &Job{Name: names[i], Base: base, Config: cj, Env: map[string]string{}}
		if cj.Matrix != nil {
			j.Matrix = cell
		}
		if j.Script, err = substitute(script(cj), cell); err != nil {
			return nil, err
		}
		if j.Image, err = substitute(cj.Image, cell); err != nil {
			return nil, err
		}
		maps.Copy(j.Env, p.Env)
		for k, v := range cj.Env {
			if j.Env[k], err = substitute(v, cell); err != nil {
				return nil, fmt.Errorf("env %s: %v", k, err)
			}
		}
		for k, v := range cell {
			j.Env[MatrixEnvName(k)] = v
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}
