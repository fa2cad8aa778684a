package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"

	"github.com/tugdev/tug/internal/kit"
)

// Values of a job's `when`.
func whenValues() []string { return []string{"on_success", "on_failure", "always", "manual"} }

// maxRetry bounds a job's retry count.
const maxRetry = 10

// pipeline checks one pipeline and its jobs.
func (v *validator) pipeline(pp string, p *Pipeline) {
	if len(p.Jobs) == 0 {
		if v.has(pp + ".jobs") {
			v.errorKey(pp+".jobs", pp+".jobs", "pipeline has no jobs")
		} else {
			v.errorKey(pp, pp, "pipeline has no jobs")
		}
	}
	seen := map[string]bool{}
	for i, s := range p.Stages {
		sp := joinIndex(pp+".stages", i)
		switch {
		case s == "":
			v.errorf(sp, "empty stage name")
		case seen[s]:
			v.errorf(sp, "duplicate stage %q", s)
		}
		seen[s] = true
	}
	v.triggers(pp, p)
	v.concurrency(pp, p)
	v.envKeys(pp + ".env")
	for _, name := range p.JobOrder {
		v.job(pp, p, name, p.Jobs[name])
	}
	v.cycles(pp, p)
}

func (v *validator) job(pp string, p *Pipeline, name string, j *Job) {
	jp := pp + ".jobs." + name
	v.jobKind(jp, j)
	if j.Stage != "" && len(p.Stages) > 0 && !slices.Contains(p.Stages, j.Stage) {
		v.errorf(jp+".stage", "unknown stage %q%s", j.Stage, kit.DidYouMean(j.Stage, p.Stages))
	}
	v.needs(jp, p, name, j)
	v.enum(jp+".when", j.When, whenValues()...)
	if v.has(jp+".if") && !v.isBad(jp+".if") {
		if msg := compileCondition(j.If); msg != "" {
			v.errorf(jp+".if", "invalid expression: %s", msg)
		}
	}
	if v.has(jp+".retry") && (j.Retry < 0 || j.Retry > maxRetry) {
		v.errorf(jp+".retry", "must be between 0 and %d, got %d", maxRetry, j.Retry)
	}
	if v.has(jp+".timeout") && j.Timeout <= 0 {
		v.errorf(jp+".timeout", "must be greater than 0")
	}
	if j.Matrix != nil {
		v.matrix(jp+".matrix", j.Matrix)
	}
	v.matrixRefs(jp, j)
	v.secretNames(jp+".secrets", j.Secrets)
	v.envKeys(jp + ".env")
	v.globs(jp+".inputs", j.Inputs)
	v.globs(jp+".artifacts", j.Artifacts)
	v.inWorkspace(jp+".artifacts", j.Artifacts)
	if j.Reports != nil {
		v.globs(jp+".reports.junit", j.Reports.JUnit)
		v.inWorkspace(jp+".reports.junit", j.Reports.JUnit)
	}
	for i, s := range j.Services {
		sp := joinIndex(jp+".services", i)
		if s.Name == "" {
			v.errorf(sp+".name", "missing service name")
		}
		if s.Image == "" {
			v.errorf(sp+".image", "missing image")
		}
		v.envKeys(sp + ".env")
	}
	if j.Deploy != nil {
		v.jobDeploy(jp+".deploy", j.Deploy)
	}
	if j.BuildImage != nil {
		v.jobBuildImage(jp, j)
	}
	v.jobSmoke(jp, j)
}

// jobKind checks that a job does exactly one thing: run, steps or deploy.
func (v *validator) jobKind(jp string, j *Job) {
	var set []string
	for _, k := range []string{"run", "steps", "deploy", "scan", "build_image"} {
		if v.has(jp + "." + k) {
			set = append(set, k)
		}
	}
	switch len(set) {
	case 0:
		v.errorKey(jp, jp, "job has nothing to do: set one of run, steps, deploy, scan or build_image")
		return
	case 1:
	default:
		v.errorKey(jp, jp+"."+set[1], "%s conflict: a job has exactly one of run, steps, deploy, scan or build_image", joinAnd(set))
		return
	}
	switch set[0] {
	case "run":
		if strings.TrimSpace(j.Run) == "" {
			v.errorf(jp+".run", "empty script")
		}
	case "steps":
		if len(j.Steps) == 0 {
			v.errorf(jp+".steps", "no steps")
		}
		for i, s := range j.Steps {
			if strings.TrimSpace(s.Run) == "" {
				v.errorf(joinIndex(jp+".steps", i)+".run", "step has no run script")
			}
		}
	case "deploy":
		if j.Deploy == nil {
			v.errorf(jp+".deploy", "missing service: write deploy: {service: NAME}")
		}
	case "scan":
		if j.Scan != nil {
			v.enum(jp+".scan.fail_on", j.Scan.FailOn, ScanSeverities()...)
		}
	}
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (v *validator) needs(jp string, p *Pipeline, name string, j *Job) {
	others := func() []string {
		out := make([]string, 0, len(p.JobOrder))
		for _, o := range p.JobOrder {
			if o != name {
				out = append(out, o)
			}
		}
		return out
	}
	seen := map[string]bool{}
	for i, n := range j.Needs {
		ip := joinIndex(jp+".needs", i)
		switch {
		case n == name:
			v.errorAt(jp+".needs", ip, "job %q cannot need itself", n)
		case seen[n]:
			v.errorAt(jp+".needs", ip, "duplicate need %q", n)
		case p.Jobs[n] == nil:
			v.errorAt(jp+".needs", ip, "unknown job %q%s", n, kit.DidYouMean(n, others()))
		}
		seen[n] = true
	}
}

// conditionEnv is what a job's `if` may refer to; the pipeline engine
// evaluates it against the same names.
func conditionEnv() map[string]any {
	return map[string]any{
		"branch": "",
		"tag":    "",
		"event":  "",
		"commit": "",
		"env":    map[string]string{},
		"matrix": map[string]string{},
	}
}

// compileCondition returns why src is not a boolean expression over
// conditionEnv, or "".
func compileCondition(src string) (msg string) {
	if strings.TrimSpace(src) == "" {
		return "empty expression"
	}
	defer func() {
		// The expression compiler is third-party code fed user input; a
		// panic there is still just an invalid expression.
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	_, err := expr.Compile(src, expr.Env(conditionEnv()), expr.AsBool())
	if err == nil {
		return ""
	}
	var fe *file.Error
	if errors.As(err, &fe) {
		return fmt.Sprintf("%s (at column %d)", fe.Message, fe.Column+1)
	}
	first, _, _ := strings.Cut(err.Error(), "\n")
	return first
}

func (v *validator) matrix(mp string, m *Matrix) {
	if len(m.AxisOrder) == 0 && len(m.Include) == 0 {
		v.errorKey(mp, mp, "matrix has no axes")
	}
	for _, a := range m.AxisOrder {
		if len(m.Axes[a]) == 0 {
			v.errorf(mp+"."+a, "axis %q has no values", a)
		}
	}
	for i, ex := range m.Exclude {
		ep := joinIndex(mp+".exclude", i)
		for _, k := range v.d.order[ep] {
			if _, ok := m.Axes[k]; !ok {
				v.errorKey(ep+"."+k, ep+"."+k, "unknown axis %q%s", k, kit.DidYouMean(k, m.AxisOrder))
			}
		}
		if len(ex) == 0 {
			v.errorf(ep, "empty exclude entry")
		}
	}
}

// matrixRef matches ${{ matrix.KEY }}; the planner substitutes the same.
var matrixRef = regexp.MustCompile(`\$\{\{\s*matrix\.([A-Za-z0-9_.-]+)\s*\}\}`)

// MatrixRef is the pattern of a matrix reference, ${{ matrix.KEY }}, with
// KEY as its first group.
func MatrixRef() *regexp.Regexp { return matrixRef }

// matrixRefs checks that every ${{ matrix.KEY }} in a job's scripts, image
// and env names a key of its matrix, pointing at the reference itself.
func (v *validator) matrixRefs(jp string, j *Job) {
	var keys []string
	if m := j.Matrix; m != nil {
		keys = append(keys, m.AxisOrder...)
		for _, inc := range m.Include {
			for k := range inc {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
	}
	check := func(path, text string) {
		if v.isBad(path) {
			return
		}
		for _, loc := range matrixRef.FindAllStringSubmatchIndex(text, -1) {
			key := text[loc[2]:loc[3]]
			if slices.Contains(keys, key) {
				continue
			}
			ref := text[loc[0]:loc[1]]
			var msg string
			switch {
			case j.Matrix == nil:
				msg = fmt.Sprintf("%s: the job has no matrix", ref)
			default:
				msg = fmt.Sprintf("%s: the matrix has no key %q%s (keys: %s)", ref, key, kit.DidYouMean(key, keys), strings.Join(keys, ", "))
			}
			v.d.add(&Error{File: v.d.file, Pos: v.posWithin(path, loc[0], ref), Path: path, Msg: msg})
		}
	}
	check(jp+".run", j.Run)
	for i, st := range j.Steps {
		check(joinIndex(jp+".steps", i)+".run", st.Run)
	}
	check(jp+".image", j.Image)
	for _, k := range v.d.order[jp+".env"] {
		check(jp+".env."+k, j.Env[k])
	}
}

func (v *validator) globs(path string, pats []string) {
	for i, p := range pats {
		if p == "" {
			v.errorf(joinIndex(path, i), "empty pattern")
		} else if !doublestar.ValidatePattern(p) {
			v.errorf(joinIndex(path, i), "invalid glob pattern %q", p)
		}
	}
}

// inWorkspace checks that patterns of files a job leaves behind (artifacts,
// JUnit reports) stay inside the workspace, the directory of tug.yaml: nothing outside it
// is saved, so such a pattern would silently keep nothing.
func (v *validator) inWorkspace(path string, pats []string) {
	for i, p := range pats {
		pp := path
		if v.has(joinIndex(path, i)) {
			pp = joinIndex(path, i)
		}
		clean := filepath.ToSlash(filepath.Clean(p))
		switch {
		case p == "":
		case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
			v.errorf(pp, "%q is an absolute path: write it relative to the workspace (the directory of tug.yaml); nothing outside it is kept", p)
		case clean == ".." || strings.HasPrefix(clean, "../"):
			v.errorf(pp, "%q leaves the workspace (the directory of tug.yaml): nothing outside it is kept", p)
		}
	}
}

func (v *validator) jobDeploy(dp string, d *JobDeploy) {
	switch {
	case d.Service == "":
		v.errorf(dp+".service", "missing service name")
	case v.c.Services[d.Service] == nil:
		v.unknownName(dp+".service", dp+".service", "service", d.Service, v.c.ServiceOrder)
	}
	if d.Environment != "" && len(v.c.Environments) > 0 && v.c.Environments[d.Environment] == nil {
		v.unknownName(dp+".environment", dp+".environment", "environment", d.Environment, v.c.EnvironmentOrder)
	}
}
