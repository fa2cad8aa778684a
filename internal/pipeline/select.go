package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/kit"
)

// Selection is the part of a plan one run schedules: the jobs named with
// --job (or every job) and everything they transitively need, in plan
// order.
type Selection struct {
	// Jobs are the scheduled instances, in plan order.
	Jobs []*Job
	// Named are the instances the run named; only they run when manual.
	Named map[string]bool
}

// Select picks the jobs a run of plan schedules. only holds job names as
// a person writes them: an instance ID ("unit[go=1.26]"), a base name
// (every instance) or the name the output shows ("unit go=1.26"). Empty
// only selects every job. An unknown name is an error wrapping
// ErrUnknownJob with a did-you-mean.
func Select(plan *Plan, only []string) (*Selection, error) {
	sel := &Selection{Named: map[string]bool{}}
	if len(only) == 0 {
		sel.Jobs = plan.Jobs
		return sel, nil
	}
	byName := map[string]*Job{}
	var bases []string
	for _, j := range plan.Jobs {
		byName[j.Name] = j
		if !slices.Contains(bases, j.Base) {
			bases = append(bases, j.Base)
		}
	}
	for _, n := range only {
		found := false
		for _, j := range plan.Jobs {
			if j.Matches(n) {
				sel.Named[j.Name] = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%w %q in pipeline %s%s; jobs: %s", ErrUnknownJob, n, plan.Pipeline,
				kit.DidYouMean(n, bases), strings.Join(bases, ", "))
		}
	}
	want := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if want[n] || byName[n] == nil {
			return
		}
		want[n] = true
		for _, need := range byName[n].Needs {
			visit(need)
		}
	}
	for n := range sel.Named {
		visit(n)
	}
	for _, j := range plan.Jobs {
		if want[j.Name] {
			sel.Jobs = append(sel.Jobs, j)
		}
	}
	return sel, nil
}

// Runnable are the selected jobs that may run: a manual job only when
// named. (Secrets are resolved and images looked for only for these.)
func (s *Selection) Runnable() []*Job {
	var out []*Job
	for _, j := range s.Jobs {
		if j.Config == nil || j.Config.When != WhenManual || s.Named[j.Name] {
			out = append(out, j)
		}
	}
	return out
}

// Matches says whether want names the instance j: its ID
// ("test[race=false]"), its base job ("test", all its instances) or the
// name the output shows ("test race=false"), so whatever a person copies
// from the output works.
func (j *Job) Matches(want string) bool {
	return MatchesJob(j.Name, want)
}

// MatchesJob is Job.Matches for an instance known by name only (a
// recorded run's job).
func MatchesJob(instance, want string) bool {
	base, _, _ := strings.Cut(instance, "[")
	return instance == want || base == want || DisplayName(instance) == strings.Join(strings.Fields(want), " ")
}

// DisplayName prints an instance name the way humans read it:
// "unit[go=1.26,os=linux]" is "unit go=1.26 os=linux".
func DisplayName(job string) string {
	base, cell, ok := strings.Cut(job, "[")
	if !ok || !strings.HasSuffix(cell, "]") {
		return job
	}
	return base + " " + strings.ReplaceAll(strings.TrimSuffix(cell, "]"), ",", " ")
}

// NotCacheable says why the cache never skips j, or "" when it may: a job
// without inputs, a deploy job and a manual job always run.
func NotCacheable(j *Job) string {
	switch {
	case j == nil || j.Config == nil || len(j.Config.Inputs) == 0:
		return "no inputs declared"
	case j.Config.Deploy != nil:
		return "deploy job"
	case j.Config.Scan != nil:
		return "scan job (its findings depend on the advisory database, not only on its inputs)"
	case j.Config.BuildImage != nil:
		return "image build job (the engine's layer cache makes a rebuild cheap; its tag is the commit)"
	case j.Config.When == WhenManual:
		return "manual job"
	}
	return ""
}
