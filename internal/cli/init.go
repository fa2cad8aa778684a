package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/server"
)

// initReport is `tug init --json`'s answer.
type initReport struct {
	File    string   `json:"file"`
	Written bool     `json:"written"`
	Stacks  []string `json:"stacks"`
	Found   []string `json:"found"`
	Notes   []string `json:"notes"`
	Service string   `json:"service,omitempty"`
	YAML    string   `json:"yaml"`
}

func (a *app) newInitCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Design a pipeline for a repository that has none: write its tug.yaml",
		Args:  cobra.MaximumNArgs(1),
		Long: "tug init looks at a repository (default: the current directory) for Go\n" +
			"modules, Node packages (package.json and its lockfile), Python projects\n" +
			"(pyproject.toml or requirements.txt), a Dockerfile and an HTTP server, and\n" +
			"writes a tug.yaml with build, test, quality and deploy stages, inputs for\n" +
			"caching, artifacts, test reports, and a service with a health check where it\n" +
			"found one. It never overwrites a file, says what it could not infer, and what\n" +
			"it writes passes `tug validate`. --dry-run prints the file instead.",
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return a.init(cmd.Context(), dir, dryRun)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the tug.yaml it would write, and write nothing")
	return cmd
}

func (a *app) init(ctx context.Context, dir string, dryRun bool) error {
	wd, err := a.getwd()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(wd, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return badInputf("%s is not a directory", dir)
	}
	target := filepath.Join(dir, "tug.yaml")
	if a.file != "" {
		if target, err = filepath.Abs(a.file); err != nil {
			return badInputf("%s: %w", a.file, err)
		}
	}
	if _, err := os.Lstat(target); err == nil {
		return badInputf("%s already exists: tug init never overwrites a file (remove it, or name another with -f)", a.displayPath(target))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d, err := design(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	src := d.render()
	// What init writes must pass `tug validate`: check it as validate does
	// before anything is written.
	cfg, err := config.Parse(a.displayPath(target), []byte(src), config.LoadOptions{LookupEnv: a.lookupEnv})
	if err == nil {
		err = planAll(cfg)
	}
	if err == nil {
		_, err = server.Check(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("tug init designed a tug.yaml that does not validate (a bug in tug init; nothing was written): %w\n%s", err, src)
	}
	rep := initReport{File: a.displayPath(target), Stacks: d.Stacks, Found: d.Found, Notes: d.Notes, YAML: src}
	if rep.Stacks == nil {
		rep.Stacks = []string{}
	}
	if rep.Found == nil {
		rep.Found = []string{}
	}
	if rep.Notes == nil {
		rep.Notes = []string{}
	}
	if d.Service != nil {
		rep.Service = d.Service.Name
	}
	if !dryRun {
		// O_EXCL: a file that appeared meanwhile is not overwritten either.
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return badInputf("%s already exists: tug init never overwrites a file", rep.File)
			}
			return err
		}
		if _, err := f.WriteString(src); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		rep.Written = true
	}
	if a.jsonOut {
		return json.NewEncoder(a.out).Encode(rep)
	}
	out := a.out
	if dryRun {
		fmt.Fprint(a.out, src)
		out = a.errOut // the report goes beside the file, not into it
	} else {
		fmt.Fprintf(out, "wrote %s\n", rep.File)
	}
	for _, f := range d.Found {
		fmt.Fprintf(out, "found: %s\n", f)
	}
	for _, n := range d.Notes {
		fmt.Fprintf(out, "could not infer: %s\n", n)
	}
	if !dryRun {
		fmt.Fprintf(out, "next: tug validate, then tug run")
		if d.Service != nil {
			fmt.Fprintf(out, "; tug up serves %s at http://%s.localhost:8080/", d.Service.Name, d.Service.Name)
		}
		fmt.Fprintln(out)
	}
	return nil
}

// yq writes s as a YAML scalar: plain when YAML reads it back as the same
// string, quoted otherwise.
func yq(s string) string {
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// yl writes a flow list of scalars.
func yl(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = yq(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// render writes the design as tug.yaml, with comments that say why.
func (d *initDesign) render() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Written by `tug init` for a %s project. Check it with `tug validate`,\n", cmp.Or(strings.Join(d.Stacks, " + "), "new"))
	w("# run it with `tug run`; every key is described in tug's JSON Schema.\n")
	w("version: 1\nproject: %s\n", yq(d.Project))
	if d.Registry != "" {
		w("\n# tug's own image registry: the pipeline pushes images here, deploys pull\n# them by digest.\nserver:\n  registry: {listen: %s}\n", yq(d.Registry))
	}
	w("\npipelines:\n  ci:\n    on: [push, manual]\n    stages: [build, test, quality, deploy]\n    jobs:\n")
	for _, j := range d.Jobs {
		w("      %s:\n", yq(j.Name))
		w("        stage: %s\n", j.Stage)
		if j.Needs != nil {
			w("        needs: %s\n", yl(j.Needs))
		}
		switch {
		case j.Deploy != "":
			if j.Manual {
				w("        when: manual                # runs when named: tug run --job %s\n", j.Name)
			}
			w("        deploy: {service: %s, environment: %s}\n", yq(j.Deploy), j.Env)
		case j.Image != "":
			w("        build_image: {name: %s, context: ., dockerfile: Dockerfile}\n", yq(j.Image))
		case strings.Contains(j.Run, "\n"):
			w("        run: |\n")
			for _, l := range strings.Split(j.Run, "\n") {
				w("          %s\n", l)
			}
		default:
			w("        run: %s\n", yq(j.Run))
		}
		if len(j.Inputs) > 0 {
			w("        inputs: %s\n", yl(j.Inputs))
		}
		if len(j.Artifacts) > 0 {
			w("        artifacts: %s\n", yl(j.Artifacts))
		}
		if len(j.JUnit) > 0 || j.Coverage != "" {
			parts := []string{}
			if len(j.JUnit) > 0 {
				parts = append(parts, "junit: "+yl(j.JUnit))
			}
			if j.Coverage != "" {
				parts = append(parts, "coverage: "+yq(j.Coverage))
			}
			w("        reports: {%s}\n", strings.Join(parts, ", "))
		}
	}
	s := d.Service
	if s == nil {
		return b.String()
	}
	w("\nservices:\n  %s:\n", yq(s.Name))
	switch {
	case s.Image != "":
		w("    build_image: {name: %s}     # the image the pipeline pushed for the commit, or built at deploy\n", yq(s.Image))
	default:
		if strings.Contains(s.Build, "\n") {
			w("    build: |\n")
			for _, l := range strings.Split(s.Build, "\n") {
				w("      %s\n", l)
			}
		} else {
			w("    build: %s\n", yq(s.Build))
		}
		w("    run: %s\n", yq(s.Run))
	}
	if s.Port != 0 {
		w("    port: %d\n", s.Port)
	}
	if s.Health != "" {
		w("    health: {path: %s, interval: 2s, timeout: 1s}\n", yq(s.Health))
	}
	w("    routes: [%s]             # staging, the first environment: what `tug up` serves\n", yq(s.Name+".localhost"))
	w("    deploy: {strategy: rolling}\n")
	w("    environments:\n      production: {routes: [%s]}\n", yq(s.Name+".example.com"))
	w("\nenvironments:\n  staging: {}\n  production: {approval: required}\n")
	return b.String()
}
