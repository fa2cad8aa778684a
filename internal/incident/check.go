package incident

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/kit"
)

// Check refuses what the incident room would refuse about c, with
// positions: every runbook in dir/runbooks and every runbook an alert
// names must exist and parse (unknown step kinds, malformed steps and
// services tug.yaml does not declare are errors in the runbook's file),
// and every remediation must name an alert that exists (alerts are the
// names of the rule groups the alert engine builds: tug.yaml's, rule
// files', the default packs'). The error is config.Errors, nil when all
// is well.
func Check(c *config.Config, dir string, alerts []string) error {
	var errs config.Errors
	seen := map[string]bool{}
	checkFile := func(rel string) {
		if seen[rel] {
			return
		}
		seen[rel] = true
		file := filepath.Join(dir, rel)
		src, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, &config.Error{File: file, Msg: err.Error()})
			return
		}
		rb, err := ParseRunbook(file, src)
		if err != nil {
			var list config.Errors
			if errors.As(err, &list) {
				errs = append(errs, list...)
			}
			return
		}
		errs = append(errs, stepServices(c, rb)...)
	}
	for i, a := range c.Alerts {
		ref := strings.TrimSpace(a.Runbook)
		if ref == "" || strings.Contains(ref, "://") {
			continue
		}
		where := fmt.Sprintf("alerts[%d].runbook", i)
		rel := path.Clean(strings.TrimPrefix(ref, "./"))
		if _, err := os.Stat(filepath.Join(dir, rel)); err == nil {
			if strings.HasSuffix(rel, ".md") {
				checkFile(rel)
			}
			continue
		}
		if name, err := RunbookName(rel); err == nil && slices.Contains(DefaultRunbooks(), name) && path.Dir(rel) == RunbookDir {
			continue // tug ships it
		}
		name := strings.TrimSuffix(path.Base(rel), ".md")
		errs = append(errs, c.Errorf(where, "runbook %s does not exist; write it with `tug runbook new %s`", rel, name))
	}
	if ents, err := os.ReadDir(filepath.Join(dir, RunbookDir)); err == nil {
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".md") {
				checkFile(path.Join(RunbookDir, e.Name()))
			}
		}
	}
	known := func(where, name string) {
		if name != "" && !slices.Contains(alerts, name) {
			errs = append(errs, c.Errorf(where, "unknown alert %q%s: remediation needs an alert of tug.yaml, a rule file or the default packs", name, kit.DidYouMean(name, alerts)))
		}
	}
	for _, svc := range c.ServiceOrder {
		for i, r := range c.Services[svc].Remediation {
			if r != nil {
				known(fmt.Sprintf("services.%s.remediation[%d].alert", svc, i), r.Alert)
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// stepServices checks that the services a runbook's steps name (written
// out, not ${SERVICE}) are declared.
func stepServices(c *config.Config, rb *Runbook) config.Errors {
	var errs config.Errors
	for _, st := range rb.Steps {
		if st.Kind == StepShell || st.Kind == StepQuery || len(st.Args) == 0 {
			continue
		}
		svc := st.Args[0]
		if strings.Contains(svc, "${") || c.Services[svc] != nil || (st.Kind == StepLogs && (svc == "tug" || svc == "proxy")) {
			continue
		}
		col := st.Col + strings.Index(st.Command, svc)
		errs = append(errs, &config.Error{File: rb.Path, Pos: config.Pos{Line: st.Line, Col: col}, Path: fmt.Sprintf("step %d", st.N),
			Msg: fmt.Sprintf("unknown service %q%s", svc, kit.DidYouMean(svc, c.ServiceOrder))})
	}
	return errs
}
