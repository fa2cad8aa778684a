package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// jobEnv builds a job's environment: inherited basics, then the plan's
// env (pipeline, job, matrix), then the job's secrets, then the TUG_* run
// variables, which nothing can override. Only a few basics are inherited:
// enough for tools to work, nothing that leaks tug's own configuration.
func (r *run) jobEnv(j *Job) ([]string, error) {
	env := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "USER", "LANG", "TERM", "TMPDIR", "SHELL"} {
		if v, ok := r.e.opts.LookupEnv(k); ok {
			env[k] = v
		}
	}
	maps.Copy(env, j.Env)
	var missing []string
	for _, name := range j.Config.Secrets {
		v, ok := r.ro.Secrets[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		env[name] = v.Reveal()
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("secrets not provided: %s", strings.Join(missing, ", "))
	}
	rc := r.ro.Context
	maps.Copy(env, map[string]string{
		"CI":            "true",
		"TUG_RUN_ID":    r.ro.RunID,
		"TUG_PIPELINE":  r.plan.Pipeline,
		"TUG_JOB":       j.Name,
		"TUG_JOB_BASE":  j.Base,
		"TUG_BRANCH":    rc.Branch,
		"TUG_TAG":       rc.Tag,
		"TUG_COMMIT":    rc.Commit,
		"TUG_EVENT":     rc.Event,
		"TUG_WORKSPACE": r.ro.Dir,
	})
	return envList(env), nil
}

// envList turns a map into sorted KEY=VALUE pairs.
func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return out
}
