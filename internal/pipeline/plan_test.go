package pipeline

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tugdev/tug/internal/config"
)

type jdef struct {
	name string
	job  *config.Job
}

// testConfig builds a one-pipeline config named "ci", jobs in the given
// declaration order.
func testConfig(stages []string, env map[string]string, jobs ...jdef) *config.Config {
	p := &config.Pipeline{Env: env, Stages: stages, Jobs: map[string]*config.Job{}}
	for _, j := range jobs {
		p.Jobs[j.name] = j.job
		p.JobOrder = append(p.JobOrder, j.name)
	}
	return &config.Config{Version: 1, Pipelines: map[string]*config.Pipeline{"ci": p}, PipelineOrder: []string{"ci"}}
}

func mustPlan(t *testing.T, cfg *config.Config) *Plan {
	t.Helper()
	p, err := NewPlan(cfg, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func planJob(p *Plan, name string) *Job {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

func jobNames(p *Plan) []string {
	var out []string
	for _, j := range p.Jobs {
		out = append(out, j.Name)
	}
	return out
}

func TestMatrixExpansion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		matrix *config.Matrix
		want   []string
	}{
		{"no matrix", nil, []string{"unit"}},
		{"one axis", &config.Matrix{Axes: map[string][]string{"go": {"1.25", "1.26"}}, AxisOrder: []string{"go"}},
			[]string{"unit[go=1.25]", "unit[go=1.26]"}},
		{"product in axis order", &config.Matrix{
			Axes:      map[string][]string{"os": {"linux", "mac"}, "go": {"1.25", "1.26"}},
			AxisOrder: []string{"os", "go"}},
			[]string{"unit[os=linux,go=1.25]", "unit[os=linux,go=1.26]", "unit[os=mac,go=1.25]", "unit[os=mac,go=1.26]"}},
		{"exclude", &config.Matrix{
			Axes:      map[string][]string{"os": {"linux", "mac"}, "go": {"1.25", "1.26"}},
			AxisOrder: []string{"os", "go"},
			Exclude:   []map[string]string{{"os": "mac", "go": "1.25"}}},
			[]string{"unit[os=linux,go=1.25]", "unit[os=linux,go=1.26]", "unit[os=mac,go=1.26]"}},
		{"exclude partial match", &config.Matrix{
			Axes:      map[string][]string{"os": {"linux", "mac"}, "go": {"1.25", "1.26"}},
			AxisOrder: []string{"os", "go"},
			Exclude:   []map[string]string{{"os": "mac"}}},
			[]string{"unit[os=linux,go=1.25]", "unit[os=linux,go=1.26]"}},
		{"include new cell", &config.Matrix{
			Axes:      map[string][]string{"go": {"1.25"}},
			AxisOrder: []string{"go"},
			Include:   []map[string]string{{"go": "1.27", "experimental": "yes"}}},
			[]string{"unit[go=1.25]", "unit[go=1.27,experimental=yes]"}},
		{"include extra key on matching cell", &config.Matrix{
			Axes:      map[string][]string{"go": {"1.25", "1.26"}},
			AxisOrder: []string{"go"},
			Include:   []map[string]string{{"go": "1.26", "race": "true"}}},
			[]string{"unit[go=1.25]", "unit[go=1.26]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, testConfig(nil, nil, jdef{"unit", &config.Job{Run: "true", Matrix: tt.matrix}}))
			if got := jobNames(p); !slices.Equal(got, tt.want) {
				t.Fatalf("instances = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatrixEnvAndSubstitution(t *testing.T) {
	t.Parallel()
	m := &config.Matrix{
		Axes:      map[string][]string{"go": {"1.25", "1.26"}, "os-name": {"linux"}},
		AxisOrder: []string{"go", "os-name"},
		Include:   []map[string]string{{"go": "1.26", "race": "-race"}},
	}
	cfg := testConfig(nil, map[string]string{"P": "pipe", "OVER": "pipe"},
		jdef{"unit", &config.Job{
			Steps: []config.Step{
				{Name: "test", Run: "go test ${{ matrix.race }} ./... # ${{matrix.go}}"},
				{Name: "vet", Run: "echo ${{   matrix.os-name }}"},
			},
			Env:    map[string]string{"OVER": "job", "GOVERSION": "go${{ matrix.go }}"},
			Image:  "golang:${{ matrix.go }}",
			Matrix: m,
		}})
	_, err := NewPlan(cfg, "ci")
	if err == nil || !strings.Contains(err.Error(), "race") {
		// unit[go=1.25] has no "race" key: the reference cannot be filled.
		t.Fatalf("err = %v, want an error about matrix.race", err)
	}
	cfg.Pipelines["ci"].Jobs["unit"].Steps[0].Run = "go test ./... # ${{matrix.go}}"
	p := mustPlan(t, cfg)
	j := planJob(p, "unit[go=1.26,os-name=linux]")
	if j == nil {
		t.Fatalf("instances: %v", jobNames(p))
	}
	wantScript := "# step: test\ngo test ./... # 1.26\n# step: vet\necho linux\n"
	if j.Script != wantScript {
		t.Fatalf("script = %q, want %q", j.Script, wantScript)
	}
	wantEnv := map[string]string{"P": "pipe", "OVER": "job", "GOVERSION": "go1.26", "MATRIX_GO": "1.26", "MATRIX_OS_NAME": "linux", "MATRIX_RACE": "-race"}
	for k, v := range wantEnv {
		if j.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, j.Env[k], v)
		}
	}
	if j.Image != "golang:1.26" {
		t.Errorf("image = %q", j.Image)
	}
	if j.Matrix["race"] != "-race" || planJob(p, "unit[go=1.25,os-name=linux]").Matrix["race"] != "" {
		t.Errorf("include extra key landed on the wrong cells")
	}
}

func TestNoMatrixReference(t *testing.T) {
	t.Parallel()
	_, err := NewPlan(testConfig(nil, nil, jdef{"a", &config.Job{Run: "echo ${{ matrix.x }}"}}), "ci")
	if !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("err = %v, want ErrInvalidPlan", err)
	}
}

func TestNeedsResolution(t *testing.T) {
	t.Parallel()
	goAxis := &config.Matrix{Axes: map[string][]string{"go": {"1", "2"}}, AxisOrder: []string{"go"}}
	tests := []struct {
		name   string
		stages []string
		jobs   []jdef
		want   map[string][]string // job -> needs
		order  []string
	}{
		{
			name:   "stage rule: no needs means all earlier stages",
			stages: []string{"build", "test", "deploy"},
			jobs: []jdef{
				{"deploy", &config.Job{Stage: "deploy", Run: "x"}},
				{"unit", &config.Job{Stage: "test", Run: "x", Matrix: goAxis}},
				{"build", &config.Job{Stage: "build", Run: "x"}},
				{"lint", &config.Job{Stage: "build", Run: "x"}},
				{"free", &config.Job{Run: "x"}},
				{"explicit", &config.Job{Stage: "deploy", Needs: []string{"build"}, Run: "x"}},
				{"none", &config.Job{Stage: "deploy", Needs: []string{}, Run: "x"}},
			},
			want: map[string][]string{
				"deploy":     {"unit[go=1]", "unit[go=2]", "build", "lint"},
				"unit[go=1]": {"build", "lint"},
				"build":      nil,
				"lint":       nil,
				"free":       nil,
				"explicit":   {"build"},
				"none":       nil,
			},
			order: []string{"build", "lint", "unit[go=1]", "unit[go=2]", "deploy", "free", "explicit", "none"},
		},
		{
			name: "no stages: no implicit needs",
			jobs: []jdef{
				{"b", &config.Job{Stage: "test", Run: "x"}},
				{"a", &config.Job{Stage: "build", Run: "x"}},
			},
			want:  map[string][]string{"a": nil, "b": nil},
			order: []string{"b", "a"},
		},
		{
			name: "need on matrix job means all instances; topological and stable",
			jobs: []jdef{
				{"report", &config.Job{Needs: []string{"unit"}, Run: "x"}},
				{"unit", &config.Job{Run: "x", Matrix: goAxis}},
				{"one", &config.Job{Needs: []string{"unit[go=2]"}, Run: "x"}},
			},
			want:  map[string][]string{"report": {"unit[go=1]", "unit[go=2]"}, "one": {"unit[go=2]"}},
			order: []string{"unit[go=1]", "unit[go=2]", "report", "one"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPlan(t, testConfig(tt.stages, nil, tt.jobs...))
			for name, want := range tt.want {
				j := planJob(p, name)
				if j == nil {
					t.Fatalf("no job %s in %v", name, jobNames(p))
				}
				if !slices.Equal(j.Needs, want) {
					t.Errorf("%s needs %v, want %v", name, j.Needs, want)
				}
			}
			if got := jobNames(p); !slices.Equal(got, tt.order) {
				t.Errorf("order = %v, want %v", got, tt.order)
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	t.Parallel()
	cfg := testConfig(nil, nil, jdef{"a", &config.Job{Run: "x"}})
	_, err := NewPlan(cfg, "cj")
	if !errors.Is(err, ErrUnknownPipeline) || !strings.Contains(err.Error(), `did you mean "ci"`) {
		t.Fatalf("err = %v", err)
	}
	cycle := testConfig(nil, nil,
		jdef{"a", &config.Job{Needs: []string{"b"}, Run: "x"}},
		jdef{"b", &config.Job{Needs: []string{"a"}, Run: "x"}})
	if _, err := NewPlan(cycle, "ci"); !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: err = %v", err)
	}
	unknown := testConfig(nil, nil, jdef{"a", &config.Job{Needs: []string{"biuld"}, Run: "x"}}, jdef{"build", &config.Job{Run: "x"}})
	if _, err := NewPlan(unknown, "ci"); !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), `did you mean "build"`) {
		t.Fatalf("unknown need: err = %v", err)
	}
	empty := testConfig(nil, nil, jdef{"a", &config.Job{Run: "x", Matrix: &config.Matrix{
		Axes: map[string][]string{"go": {"1"}}, AxisOrder: []string{"go"}, Exclude: []map[string]string{{"go": "1"}}}}})
	if _, err := NewPlan(empty, "ci"); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("empty matrix: err = %v", err)
	}
}
