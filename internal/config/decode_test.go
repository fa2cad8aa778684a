package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, file string) *Config {
	t.Helper()
	cfg, err := Load(filepath.Join("testdata", "valid", file), testOpts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse("tug.yaml", []byte(src), testOpts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestBriefExample(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "brief.yaml")
	if c.Version != 1 || c.Project != "shop" {
		t.Errorf("version/project = %d/%q", c.Version, c.Project)
	}
	ci := c.Pipelines["ci"]
	if want := []string{"build", "unit", "lint", "deploy-staging", "deploy-prod"}; !reflect.DeepEqual(ci.JobOrder, want) {
		t.Errorf("JobOrder = %v, want %v", ci.JobOrder, want)
	}
	if want := []Trigger{{Event: "push"}, {Event: "manual"}}; !reflect.DeepEqual(ci.On, want) {
		t.Errorf("On = %v", ci.On)
	}
	unit := ci.Jobs["unit"]
	if unit.Timeout.D() != 10*time.Minute || unit.Retry != 2 || !reflect.DeepEqual(unit.Needs, []string{"build"}) {
		t.Errorf("unit = %+v", unit)
	}
	if !reflect.DeepEqual(unit.Matrix.Axes, map[string][]string{"go": {"1.25", "1.26"}}) {
		t.Errorf("matrix = %+v", unit.Matrix)
	}
	if d := ci.Jobs["deploy-prod"]; d.When != "manual" || d.Deploy.Service != "web" || d.Deploy.Environment != "production" {
		t.Errorf("deploy-prod = %+v", d)
	}
	web := c.Services["web"]
	if web.Port != 8080 || web.Replicas != 2 || web.Health.Interval.D() != 2*time.Second {
		t.Errorf("web = %+v", web)
	}
	if len(web.Deploy.Steps) != 3 || web.Deploy.Steps[1].Pause.D() != time.Minute || web.Deploy.Analysis.MaxP95Latency.D() != 500*time.Millisecond {
		t.Errorf("web.deploy = %+v", web.Deploy)
	}
	if o := web.Environments["production"]; o.Replicas != 3 || o.Routes[0] != "shop.example.com" {
		t.Errorf("production override = %+v", o)
	}
	if !reflect.DeepEqual(c.EnvironmentOrder, []string{"staging", "production"}) || c.DefaultEnvironment() != "staging" {
		t.Errorf("EnvironmentOrder = %v, default %q", c.EnvironmentOrder, c.DefaultEnvironment())
	}
	if !c.Environments["production"].Approval.Required || c.Environments["staging"] == nil {
		t.Errorf("environments = %+v", c.Environments)
	}
	if !reflect.DeepEqual(c.PipelineOrder, []string{"ci"}) || !reflect.DeepEqual(c.ServiceOrder, []string{"web"}) {
		t.Errorf("orders = %v %v", c.PipelineOrder, c.ServiceOrder)
	}
	if a := c.Alerts[0]; a.Alert != "HighErrorRate" || a.For.D() != 5*time.Minute || a.Severity != "P0" {
		t.Errorf("alert = %+v", a)
	}
	// Positions: keys for mapping entries, the item for list entries.
	for path, want := range map[string]Pos{
		"pipelines.ci.jobs.unit.needs":    {Line: 17, Col: 9},
		"pipelines.ci.jobs.unit.needs[0]": {Line: 17, Col: 17},
		"services.web.port":               {Line: 41, Col: 5},
		"alerts[0]":                       {Line: 59, Col: 5},
		"version":                         {Line: 1, Col: 1},
	} {
		if got := c.PosOf(path); got != want {
			t.Errorf("PosOf(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "anchors.yaml")
	b, tj := c.Pipelines["ci"].Jobs["build"], c.Pipelines["ci"].Jobs["test"]
	if b.Image != "golang:1.26" || b.Timeout.D() != 10*time.Minute || b.Env["CGO_ENABLED"] != "0" {
		t.Errorf("build did not get the merged defaults: %+v", b)
	}
	if b.Retry != 2 {
		t.Errorf("explicit key must override the merged one: retry = %d", b.Retry)
	}
	if tj.Retry != 1 || tj.Image != "golang:1.26" || tj.Run != "go test ./..." {
		t.Errorf("test (merge list) = %+v", tj)
	}
	// A merged key points into the anchor, where it is written.
	if got := c.PosOf("pipelines.ci.jobs.test.image"); got != (Pos{Line: 4, Col: 3}) {
		t.Errorf("merged key position = %v", got)
	}
}

func TestMergePrecedence(t *testing.T) {
	t.Parallel()
	c := mustParse(t, `version: 1
x-a: &a {image: a, retry: 1, run: from-a}
x-b: &b {image: b, retry: 2, timeout: 2m, run: from-b}
pipelines:
  ci:
    jobs:
      j:
        run: explicit
        <<: [*a, *b]
      k: &k
        <<: *b
        image: k
      l: *k
`)
	jobs := c.Pipelines["ci"].Jobs
	if j := jobs["j"]; j.Run != "explicit" || j.Image != "a" || j.Retry != 1 || j.Timeout.D() != 2*time.Minute {
		t.Errorf("j = %+v: explicit wins, then the earlier merged mapping", j)
	}
	if k, l := jobs["k"], jobs["l"]; k.Image != "k" || k.Run != "from-b" || !reflect.DeepEqual(k, l) {
		t.Errorf("k = %+v, l = %+v", k, l)
	}
	if want := []string{"j", "k", "l"}; !reflect.DeepEqual(c.Pipelines["ci"].JobOrder, want) {
		t.Errorf("JobOrder = %v", c.Pipelines["ci"].JobOrder)
	}
}

func TestAliasAbuse(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"self merge": "version: 1\nx: &a {<<: *a}\n",
		"self alias": "version: 1\npipelines: &p {ci: {jobs: {a: {run: x}}, env: *p}}\n",
		"merge laughs": `version: 1
x-a: &a {run: x}
x-b: &b {<<: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]}
x-c: &c {<<: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]}
x-d: &d {<<: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]}
x-e: &e {<<: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]}
x-f: &f {<<: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]}
x-g: &g {<<: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]}
x-h: &h {<<: [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]}
pipelines: {ci: {jobs: {a: *h, b: *h, c: *h}}}
`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("tug.yaml", []byte(src), testOpts)
			if name == "self merge" {
				// yaml.v3 refuses an alias to an unfinished anchor, or we do.
				if err == nil {
					t.Fatal("accepted a self-referencing merge")
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if name == "merge laughs" && !strings.Contains(err.Error(), "too large") {
				t.Fatalf("err = %v, want the expansion bound", err)
			}
			t.Log(err)
		})
	}
}

func TestInterpolationValues(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "interpolation.yaml")
	env := c.Pipelines["ci"].Env
	for k, want := range map[string]string{
		"REGISTRY":  "registry.local",
		"PRICE":     "$5",
		"CACHE":     "/home/tug/.cache",
		"MATRIX_GO": "${{ matrix.go }}",
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if c.Project != "shop-dev" {
		t.Errorf("project = %q (empty variable takes the default)", c.Project)
	}
	b := c.Pipelines["ci"].Jobs["build"]
	if b.Image != "registry.local/golang:1.26" {
		t.Errorf("image = %q", b.Image)
	}
	if b.Run != "echo ${UNSET_AT_LOAD_TIME} $HOME" {
		t.Errorf("run must stay raw for the shell: %q", b.Run)
	}
	web := c.Services["web"]
	if web.Run != "./bin/web --port 8080" || web.Port != 9090 || web.Replicas != 3 {
		t.Errorf("web = %+v", web)
	}
}

func TestStepRunIsRaw(t *testing.T) {
	t.Parallel()
	c := mustParse(t, "version: 1\npipelines:\n  ci:\n    jobs:\n      a:\n        steps:\n          - name: \"${EMPTY:-n}\"\n            run: echo ${NOPE}\n")
	s := c.Pipelines["ci"].Jobs["a"].Steps[0]
	if s.Run != "echo ${NOPE}" || s.Name != "n" {
		t.Errorf("step = %+v", s)
	}
}

func TestDefaultLookupIsProcessEnv(t *testing.T) {
	t.Setenv("TUG_TEST_PROJECT", "from-env")
	c, err := Parse("tug.yaml", []byte("version: 1\nproject: ${TUG_TEST_PROJECT}\n"), LoadOptions{})
	if err != nil || c.Project != "from-env" {
		t.Fatalf("project = %v, %v", c, err)
	}
}

func TestShapes(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "shapes.yaml")
	if c.Cache.MaxSize != 5<<30 {
		t.Errorf("max_size = %d", c.Cache.MaxSize)
	}
	if want := []Trigger{{Schedule: "0 3 * * *"}}; !reflect.DeepEqual(c.Pipelines["nightly"].On, want) {
		t.Errorf("single trigger = %+v", c.Pipelines["nightly"].On)
	}
	want := []Trigger{{Event: "push"}, {Event: "manual"}, {Tag: "v*"}, {Branch: "main", Event: "push"}}
	if got := c.Pipelines["release"].On; !reflect.DeepEqual(got, want) {
		t.Errorf("triggers = %+v", got)
	}
	m := c.Pipelines["release"].Jobs["unit"].Matrix
	wantM := &Matrix{
		Axes:      map[string][]string{"go": {"1.25", "1.26"}, "os": {"linux"}, "race": {"true", "false"}},
		AxisOrder: []string{"go", "os", "race"},
		Include:   []map[string]string{{"go": "1.27", "experimental": "true"}},
		Exclude:   []map[string]string{{"go": "1.25", "race": "true"}},
	}
	if !reflect.DeepEqual(m, wantM) {
		t.Errorf("matrix = %+v", m)
	}
	if s := c.Pipelines["nightly"].Jobs["scan"].Steps; len(s) != 2 || s[0].Name != "vet" || s[1].Run != "go test -race ./..." {
		t.Errorf("steps = %+v", s)
	}
	api := c.Services["api"]
	if api.Deploy.DrainTimeout.D() != 30*time.Second || api.Deploy.Analysis.MaxErrorRate != 0.01 || api.Deploy.Smoke.ExpectStatus != 200 {
		t.Errorf("api.deploy = %+v", api.Deploy)
	}
	if c.Environments["staging"] == nil {
		t.Error("an environment written with no body must still be declared")
	}
}

func TestLoadUnreadable(t *testing.T) {
	t.Parallel()
	_, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), LoadOptions{})
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v: want a wrapped not-exist error, not ErrInvalid", err)
	}
}

func TestErrorFormatting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		e    *Error
		want string
	}{
		{&Error{File: "tug.yaml", Pos: Pos{12, 5}, Path: "a.b", Msg: "bad"}, "tug.yaml:12:5: a.b: bad"},
		{&Error{File: "tug.yaml", Pos: Pos{3, 1}, Msg: "bad"}, "tug.yaml:3:1: bad"},
		{&Error{File: "x/tug.yaml", Pos: Pos{3, 0}, Msg: "bad"}, "x/tug.yaml:3: bad"},
		{&Error{File: "tug.yaml", Msg: "bad"}, "tug.yaml: bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
		if !errors.Is(tc.e, ErrInvalid) {
			t.Errorf("%q does not match ErrInvalid", tc.want)
		}
	}
	es := Errors{{File: "f", Pos: Pos{2, 1}, Msg: "b"}, {File: "f", Pos: Pos{1, 9}, Msg: "a"}}
	sortErrors(es)
	if es.Error() != "f:1:9: a\nf:2:1: b" {
		t.Errorf("Errors = %q", es.Error())
	}
	var err error = es
	if !errors.Is(err, ErrInvalid) {
		t.Error("Errors does not match ErrInvalid")
	}
}

func TestErrorfAndPosOf(t *testing.T) {
	t.Parallel()
	c := mustLoad(t, "brief.yaml")
	e := c.Errorf("pipelines.ci.jobs.unit.needs[0]", "job %q failed", "build")
	if got := e.Error(); got != `testdata/valid/brief.yaml:17:17: pipelines.ci.jobs.unit.needs[0]: job "build" failed` {
		t.Errorf("Errorf = %q", got)
	}
	// Unwritten keys fall back to the nearest written parent.
	if got := c.PosOf("pipelines.ci.jobs.unit.image"); got != c.PosOf("pipelines.ci.jobs.unit") {
		t.Errorf("fallback = %v", got)
	}
	if got := c.PosOf("nowhere.at.all"); got != (Pos{1, 1}) {
		t.Errorf("root fallback = %v", got)
	}
	if d := mustParse(t, "version: 1\n").DefaultEnvironment(); d != "default" {
		t.Errorf("DefaultEnvironment = %q", d)
	}
}

func TestAllErrorsReported(t *testing.T) {
	t.Parallel()
	_, err := Parse("tug.yaml", []byte(`version: 1
pipelines:
  ci:
    jobs:
      a: {run: x, retry: many, timeout: 5}
      b: {run: x, needs: [c], when: never}
`), testOpts)
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %T %v", err, err)
	}
	if len(es) != 4 {
		t.Fatalf("got %d errors, want 4:\n%v", len(es), err)
	}
	for i := 1; i < len(es); i++ {
		a, b := es[i-1].Pos, es[i].Pos
		if a.Line > b.Line || (a.Line == b.Line && a.Col > b.Col) {
			t.Errorf("errors not sorted: %v", err)
		}
	}
	if !strings.Contains(err.Error(), `unknown job "c"`) {
		t.Errorf("missing needs error: %v", err)
	}
}
