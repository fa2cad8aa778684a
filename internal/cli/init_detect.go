package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// initDesign is the pipeline (and service) `tug init` designed for a
// repository, with what it found and what it could not infer.
type initDesign struct {
	Project string
	Stacks  []string
	Jobs    []*initJob
	Service *initService
	// Registry is set when an image goes to tug's own registry.
	Registry string
	Found    []string
	Notes    []string
}

// initJob is one job of the designed pipeline.
type initJob struct {
	Name, Stage string
	// Needs nil leaves the stage order; an empty, non-nil list starts at
	// once.
	Needs     []string
	Run       string
	Inputs    []string
	Artifacts []string
	JUnit     []string
	Coverage  string
	// Image is the name a build_image job builds.
	Image       string
	Deploy, Env string
	Manual      bool
}

// initService is the designed service.
type initService struct {
	Name, Build, Run string
	// Image is the name of the image the service builds (build_image).
	Image  string
	Port   int
	Health string
	// portNote says the process listens on a fixed port, when it does.
	portNote string
}

// repoFiles is what init reads of a repository: its file paths (slash
// separated, relative), without dependency, VCS and state directories.
type repoFiles struct {
	dir   string
	paths []string
}

// skipDirs are never design input.
var skipDirs = map[string]bool{".git": true, ".tug": true, "node_modules": true, "vendor": true, ".venv": true, "venv": true, "__pycache__": true, "testdata": true, "dist": true, "build": true}

// maxScan bounds how many files init looks at.
const maxScan = 20000

func scanRepo(dir string) (*repoFiles, error) {
	r := &repoFiles{dir: dir}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." && (skipDirs[d.Name()] || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if len(r.paths) >= maxScan {
			return fs.SkipAll
		}
		r.paths = append(r.paths, filepath.ToSlash(rel))
		return nil
	})
	return r, err
}

func (r *repoFiles) has(p string) bool { return slices.Contains(r.paths, p) }

func (r *repoFiles) read(p string) string {
	b, err := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(p)))
	if err != nil {
		return ""
	}
	return string(b)
}

// withExt lists the files ending in one of exts, tests excluded when
// noTests.
func (r *repoFiles) withExt(noTests bool, exts ...string) []string {
	var out []string
	for _, p := range r.paths {
		if !slices.Contains(exts, path.Ext(p)) {
			continue
		}
		base := path.Base(p)
		if noTests && (strings.HasSuffix(base, "_test.go") || strings.HasPrefix(base, "test_") || strings.Contains(base, ".test.") || strings.Contains(base, ".spec.") || strings.HasPrefix(p, "tests/") || strings.HasPrefix(p, "test/")) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// topDirs are the top-level directories holding files of exts.
func (r *repoFiles) topDirs(exts ...string) []string {
	var out []string
	for _, p := range r.withExt(false, exts...) {
		if top, _, ok := strings.Cut(p, "/"); ok && !slices.Contains(out, top) {
			out = append(out, top)
		}
	}
	slices.Sort(out)
	return out
}

// healthPaths are the health endpoints init looks for, best first.
var healthPaths = []string{"/healthz", "/health", "/livez", "/readyz", "/ready", "/ping"}

// healthPath finds the first health endpoint a source file names.
func (r *repoFiles) healthPath(files []string) string {
	for _, hp := range healthPaths {
		for _, f := range files {
			src := r.read(f)
			for _, q := range []string{`"`, `'`, "`"} {
				if strings.Contains(src, q+hp+q) {
					return hp
				}
			}
		}
	}
	return ""
}

// fixedPort finds a hard-coded listen port (":8080") in src.
var fixedPortRE = regexp.MustCompile(`["'](?:0\.0\.0\.0|127\.0\.0\.1|localhost)?:(\d{2,5})["']|port\s*=\s*(\d{2,5})|listen\((\d{2,5})`)

func fixedPort(src string) int {
	m := fixedPortRE.FindStringSubmatch(src)
	if m == nil {
		return 0
	}
	for _, g := range m[1:] {
		if n, err := strconv.Atoi(g); err == nil && n > 0 && n < 65536 {
			return n
		}
	}
	return 0
}

// design looks at the repository in dir and designs its tug.yaml.
func design(dir string) (*initDesign, error) {
	r, err := scanRepo(dir)
	if err != nil {
		return nil, err
	}
	d := &initDesign{Project: projectName(dir)}
	stacks := []struct {
		name string
		fn   func(*initDesign, *repoFiles) *stackDesign
	}{{"go", goStack}, {"node", nodeStack}, {"python", pythonStack}}
	var found []*stackDesign
	for _, s := range stacks {
		if sd := s.fn(d, r); sd != nil {
			sd.name = s.name
			found = append(found, sd)
			d.Stacks = append(d.Stacks, s.name)
		}
	}
	if len(found) == 0 {
		d.Notes = append(d.Notes, "no Go module (go.mod), Node package (package.json) or Python project (pyproject.toml, requirements.txt) found: the pipeline has one placeholder job; put your build in it")
		d.Jobs = append(d.Jobs, &initJob{Name: "build", Stage: "build", Run: `echo "tug init found nothing to build: replace this with your build" && exit 1`})
	}
	var gates []string // the jobs a deploy waits for
	for _, sd := range found {
		prefix := ""
		if len(found) > 1 {
			prefix = sd.name + "-"
		}
		for _, j := range sd.jobs {
			j.Name = prefix + j.Name
			for i := range j.Needs {
				j.Needs[i] = prefix + j.Needs[i]
			}
			d.Jobs = append(d.Jobs, j)
			if j.Stage == "test" || j.Stage == "quality" {
				gates = append(gates, j.Name)
			}
		}
		if d.Service == nil && sd.service != nil {
			d.Service = sd.service
		}
	}

	if r.has("Dockerfile") {
		d.Stacks = append(d.Stacks, "docker")
		d.Found = append(d.Found, "Dockerfile: the pipeline builds it and pushes it to tug's registry (server.registry), the service runs it")
		d.Registry = "127.0.0.1:5000"
		img := &initJob{Name: "image", Stage: "deploy", Needs: slices.Clone(gates), Image: d.Project}
		d.Jobs = append(d.Jobs, img)
		gates = []string{"image"}
		port := exposedPort(r.read("Dockerfile"))
		svc := d.Service
		if svc == nil {
			svc = &initService{}
		}
		d.Service = &initService{Name: d.Project, Image: d.Project, Port: port, Health: svc.Health}
		if port == 0 {
			d.Service.Port = 8080
			if svc.Port != 0 {
				d.Service.Port = svc.Port
			}
			d.Notes = append(d.Notes, fmt.Sprintf("the Dockerfile has no EXPOSE: the service's container port is set to %d; correct services.%s.port if the app listens elsewhere", d.Service.Port, d.Project))
		}
	}
	if d.Service == nil {
		d.Notes = append(d.Notes, "no HTTP server entry point found: no service is declared, so the pipeline has no deploy stage")
		return d, nil
	}
	s := d.Service
	if s.portNote != "" && s.Image == "" {
		d.Notes = append(d.Notes, s.portNote)
	}
	d.Notes = append(d.Notes, fmt.Sprintf("production's host name: services.%s.environments.production.routes says %s.example.com; put the real one there", s.Name, s.Name))
	if s.Health == "" {
		d.Notes = append(d.Notes, fmt.Sprintf("no health endpoint (%s) found in the server's code: tug checks that the port accepts connections; add one and set services.%s.health.path", strings.Join(healthPaths, ", "), s.Name))
	}
	d.Jobs = append(d.Jobs,
		&initJob{Name: "deploy-staging", Stage: "deploy", Needs: slices.Clone(gates), Deploy: s.Name, Env: "staging"},
		&initJob{Name: "deploy-production", Stage: "deploy", Needs: []string{"deploy-staging"}, Deploy: s.Name, Env: "production", Manual: true},
	)
	return d, nil
}

// stackDesign is what one stack adds to the design.
type stackDesign struct {
	name    string
	jobs    []*initJob
	service *initService
}

// projectName is the directory's name as a project name.
func projectName(dir string) string {
	name := strings.ToLower(filepath.Base(dir))
	name = regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(name, "-")
	name = strings.Trim(name, "-")
	if name == "" {
		return "app"
	}
	return name
}

func exposedPort(dockerfile string) int {
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && strings.EqualFold(f[0], "EXPOSE") {
			p, _, _ := strings.Cut(f[1], "/")
			if n, err := strconv.Atoi(p); err == nil && n > 0 && n < 65536 {
				return n
			}
		}
	}
	return 0
}

// goStack designs the jobs of a Go module: build (every main package into
// bin/), test with coverage, vet and gofmt; a main package serving HTTP is
// the service.
func goStack(d *initDesign, r *repoFiles) *stackDesign {
	if !r.has("go.mod") {
		return nil
	}
	sd := &stackDesign{}
	inputs := []string{"**/*.go", "go.mod"}
	if r.has("go.sum") {
		inputs = append(inputs, "go.sum")
	}
	// Main packages, by directory.
	var mains []string
	for _, f := range r.withExt(true, ".go") {
		if strings.Contains(r.read(f), "\npackage main") || strings.HasPrefix(r.read(f), "package main") {
			if dir := path.Dir(f); !slices.Contains(mains, dir) {
				mains = append(mains, dir)
			}
		}
	}
	slices.Sort(mains)
	build := []string{"go build ./..."}
	var bins []string
	binOf := map[string]string{}
	for _, m := range mains {
		name := path.Base(m)
		if m == "." {
			name = d.Project
		}
		binOf[m] = "bin/" + name
		bins = append(bins, "bin/"+name)
		build = append(build, fmt.Sprintf("go build -o bin/%s ./%s", name, strings.TrimPrefix(m, ".")))
	}
	d.Found = append(d.Found, fmt.Sprintf("Go module (go.mod) with %d main package(s)", len(mains)))
	sd.jobs = append(sd.jobs,
		&initJob{Name: "build", Stage: "build", Run: strings.Join(build, "\n"), Inputs: inputs, Artifacts: bins},
		&initJob{Name: "test", Stage: "test", Needs: []string{"build"}, Run: "mkdir -p reports\ngo test -coverprofile=reports/coverage.out ./...", Inputs: inputs, Coverage: "reports/coverage.out"},
		&initJob{Name: "vet", Stage: "quality", Needs: []string{}, Run: "go vet ./...\ntest -z \"$(gofmt -l .)\" || { gofmt -l .; echo 'gofmt: the files above are not formatted'; exit 1; }", Inputs: inputs},
	)
	d.Notes = append(d.Notes, "Go tests report coverage only: JUnit XML needs a tool such as gotestsum; add reports.junit when you use one")
	// The HTTP server: a main package whose files serve HTTP.
	for _, m := range mains {
		var files []string
		for _, f := range r.withExt(true, ".go") {
			if path.Dir(f) == m {
				files = append(files, f)
			}
		}
		serves := false
		port := 0
		readsPort := false
		for _, f := range files {
			src := r.read(f)
			if strings.Contains(src, "ListenAndServe") || strings.Contains(src, "http.Server{") {
				serves = true
				readsPort = readsPort || strings.Contains(src, `Getenv("PORT")`) || strings.Contains(src, `LookupEnv("PORT")`)
				if port == 0 {
					port = fixedPort(src)
				}
			}
		}
		if !serves {
			continue
		}
		name := path.Base(binOf[m])
		svc := &initService{Name: name, Build: build[1+slices.Index(mains, m)], Run: "./" + binOf[m], Health: r.healthPath(r.withExt(true, ".go"))}
		if !readsPort && port != 0 {
			svc.Port = port
			svc.portNote = fmt.Sprintf("%s listens on the fixed port %d, not on $PORT: one instance per host; read $PORT to run replicas", binOf[m], port)
		}
		d.Found = append(d.Found, fmt.Sprintf("an HTTP server in %s (./%s)", m, binOf[m]))
		sd.service = svc
		break
	}
	return sd
}

// packageJSON is the part of package.json init reads.
type packageJSON struct {
	Name            string            `json:"name"`
	Main            string            `json:"main"`
	Scripts         map[string]string `json:"scripts"`
	Dependencies    map[string]string `json:"dependencies"`
	DevDependencies map[string]string `json:"devDependencies"`
}

// nodeStack designs the jobs of a Node package from its scripts and its
// lockfile's package manager.
func nodeStack(d *initDesign, r *repoFiles) *stackDesign {
	if !r.has("package.json") {
		return nil
	}
	var pkg packageJSON
	if err := json.Unmarshal([]byte(r.read("package.json")), &pkg); err != nil {
		d.Notes = append(d.Notes, "package.json is not valid JSON: the Node jobs are left out")
		return nil
	}
	sd := &stackDesign{}
	install, runner, lock := "npm install", "npm run", ""
	switch {
	case r.has("package-lock.json"):
		install, lock = "npm ci", "package-lock.json"
	case r.has("npm-shrinkwrap.json"):
		install, lock = "npm ci", "npm-shrinkwrap.json"
	case r.has("yarn.lock"):
		install, runner, lock = "yarn install --frozen-lockfile", "yarn", "yarn.lock"
	case r.has("pnpm-lock.yaml"):
		install, runner, lock = "pnpm install --frozen-lockfile", "pnpm run", "pnpm-lock.yaml"
	default:
		d.Notes = append(d.Notes, "package.json has no lockfile (package-lock.json, yarn.lock, pnpm-lock.yaml): installs are `npm install`, not reproducible; commit a lockfile")
	}
	d.Found = append(d.Found, "Node package (package.json"+map[bool]string{true: ", " + lock, false: ""}[lock != ""]+")")
	inputs := []string{"package.json"}
	if lock != "" {
		inputs = append(inputs, lock)
	}
	for _, top := range r.topDirs(".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".vue", ".svelte") {
		inputs = append(inputs, top+"/**")
	}
	for _, f := range r.withExt(false, ".js", ".mjs", ".cjs", ".ts") {
		if !strings.Contains(f, "/") {
			inputs = append(inputs, f)
		}
	}
	script := func(name string) bool {
		s := pkg.Scripts[name]
		return s != "" && !strings.Contains(s, "no test specified")
	}
	build := initJob{Name: "build", Stage: "build", Run: install, Inputs: inputs}
	if script("build") {
		build.Run += "\n" + runner + " build"
		for _, out := range []string{"dist", "build"} {
			if strings.Contains(pkg.Scripts["build"], out) || strings.HasPrefix(pkg.Main, out+"/") {
				build.Artifacts = []string{out + "/**"}
				break
			}
		}
		if build.Artifacts == nil {
			d.Notes = append(d.Notes, "the build script's output directory could not be told: add it to the build job's artifacts")
		}
	}
	sd.jobs = append(sd.jobs, &build)
	if script("test") {
		sd.jobs = append(sd.jobs, &initJob{Name: "test", Stage: "test", Needs: []string{"build"}, Run: install + "\n" + runner + " test", Inputs: inputs})
		d.Notes = append(d.Notes, "Node test reports: have your test runner write JUnit XML (e.g. reports/junit.xml) and add reports: {junit: [reports/*.xml]} to the test job")
	} else {
		d.Notes = append(d.Notes, "package.json has no test script: no test job")
	}
	if script("lint") {
		sd.jobs = append(sd.jobs, &initJob{Name: "lint", Stage: "quality", Needs: []string{}, Run: install + "\n" + runner + " lint", Inputs: inputs})
	} else {
		d.Notes = append(d.Notes, "package.json has no lint script: no quality job for Node")
	}
	// The HTTP server: a web framework, or a listen call, and a way to start.
	deps := map[string]bool{}
	for k := range pkg.Dependencies {
		deps[k] = true
	}
	web := ""
	for _, fw := range []string{"express", "fastify", "koa", "@hapi/hapi", "next", "@nestjs/core", "hono"} {
		if deps[fw] {
			web = fw
			break
		}
	}
	src := r.withExt(true, ".js", ".mjs", ".cjs", ".ts")
	if web == "" {
		for _, f := range src {
			if strings.Contains(r.read(f), "createServer(") && strings.Contains(r.read(f), ".listen(") {
				web = "node:http"
				break
			}
		}
	}
	if web == "" {
		return sd
	}
	run := ""
	switch {
	case pkg.Scripts["start"] != "":
		run = runner + " start"
	case pkg.Main != "":
		run = "node " + pkg.Main
	default:
		d.Notes = append(d.Notes, "an HTTP server ("+web+") but no start script or main in package.json: set the service's run")
		return sd
	}
	readsPort := false
	port := 0
	for _, f := range src {
		s := r.read(f)
		readsPort = readsPort || strings.Contains(s, "process.env.PORT")
		if port == 0 && strings.Contains(s, ".listen(") {
			port = fixedPort(s)
		}
	}
	svc := &initService{Name: d.Project, Build: install, Run: run, Health: r.healthPath(src)}
	if !readsPort && port != 0 {
		svc.Port = port
		svc.portNote = fmt.Sprintf("the server listens on the fixed port %d, not on process.env.PORT: one instance per host", port)
	}
	d.Found = append(d.Found, "an HTTP server ("+web+", started by `"+run+"`)")
	sd.service = svc
	return sd
}

// pythonStack designs the jobs of a Python project in a virtualenv.
func pythonStack(d *initDesign, r *repoFiles) *stackDesign {
	var reqs, manifest string
	switch {
	case r.has("requirements.txt"):
		manifest, reqs = "requirements.txt", r.read("requirements.txt")
		if r.has("requirements-dev.txt") {
			reqs += "\n" + r.read("requirements-dev.txt")
		}
	case r.has("pyproject.toml"):
		manifest, reqs = "pyproject.toml", r.read("pyproject.toml")
	default:
		return nil
	}
	sd := &stackDesign{}
	d.Found = append(d.Found, "Python project ("+manifest+")")
	venv := "python3 -m venv .venv\n"
	switch manifest {
	case "requirements.txt":
		venv += ".venv/bin/pip install -q -r requirements.txt"
		if r.has("requirements-dev.txt") {
			venv += " -r requirements-dev.txt"
		}
	default:
		venv += ".venv/bin/pip install -q ."
	}
	inputs := []string{"**/*.py", manifest}
	if r.has("requirements-dev.txt") {
		inputs = append(inputs, "requirements-dev.txt")
	}
	lower := strings.ToLower(reqs)
	mentions := func(name string) bool {
		return regexp.MustCompile(`(?m)(^|["'\s])` + regexp.QuoteMeta(name) + `([\s=<>~!\[;"',]|$)`).MatchString(lower)
	}
	sd.jobs = append(sd.jobs, &initJob{Name: "build", Stage: "build", Run: venv + "\n.venv/bin/python -m compileall -q -x '(^|/)\\.venv/' .", Inputs: inputs})
	hasTests := false
	for _, p := range r.paths {
		b := path.Base(p)
		hasTests = hasTests || (strings.HasPrefix(b, "test_") || strings.HasSuffix(b, "_test.py")) && strings.HasSuffix(b, ".py")
	}
	switch {
	case mentions("pytest"):
		sd.jobs = append(sd.jobs, &initJob{Name: "test", Stage: "test", Needs: []string{"build"}, Run: venv + "\nmkdir -p reports\n.venv/bin/python -m pytest --junitxml=reports/junit.xml", Inputs: inputs, JUnit: []string{"reports/junit.xml"}})
	case hasTests:
		sd.jobs = append(sd.jobs, &initJob{Name: "test", Stage: "test", Needs: []string{"build"}, Run: venv + "\n.venv/bin/python -m unittest discover", Inputs: inputs})
		d.Notes = append(d.Notes, "tests run with unittest (pytest is not among the requirements), which writes no JUnit report")
	default:
		d.Notes = append(d.Notes, "no Python tests found (test_*.py) and no pytest requirement: no test job")
	}
	switch {
	case mentions("ruff"):
		sd.jobs = append(sd.jobs, &initJob{Name: "lint", Stage: "quality", Needs: []string{}, Run: venv + "\n.venv/bin/ruff check .", Inputs: inputs})
	case mentions("flake8"):
		sd.jobs = append(sd.jobs, &initJob{Name: "lint", Stage: "quality", Needs: []string{}, Run: venv + "\n.venv/bin/flake8 --exclude .venv", Inputs: inputs})
	default:
		d.Notes = append(d.Notes, "no Python linter (ruff, flake8) among the requirements: no quality job for Python")
	}
	// The HTTP server: a web framework and the module that makes its app.
	src := r.withExt(true, ".py")
	for _, fw := range []struct{ dep, marker, run string }{
		{"fastapi", "FastAPI(", ".venv/bin/uvicorn %s:app --host 127.0.0.1 --port $PORT"},
		{"flask", "Flask(", ".venv/bin/flask --app %s run --host 127.0.0.1 --port $PORT"},
		{"django", "", ".venv/bin/python manage.py runserver 127.0.0.1:$PORT"},
	} {
		if !mentions(fw.dep) {
			continue
		}
		run := ""
		if fw.marker == "" {
			if r.has("manage.py") {
				run = fw.run
			}
		} else {
			for _, f := range src {
				if strings.Contains(r.read(f), fw.marker) {
					run = fmt.Sprintf(fw.run, strings.ReplaceAll(strings.TrimSuffix(f, ".py"), "/", "."))
					break
				}
			}
		}
		if run == "" {
			d.Notes = append(d.Notes, fw.dep+" is a requirement but its app could not be found: set the service's run")
			break
		}
		sd.service = &initService{Name: d.Project, Build: venv, Run: run, Health: r.healthPath(src)}
		d.Found = append(d.Found, "an HTTP server ("+fw.dep+")")
		if fw.dep != "fastapi" {
			d.Notes = append(d.Notes, "the service runs "+fw.dep+"'s development server: use a production server (gunicorn, uvicorn) for production")
		}
		break
	}
	return sd
}
