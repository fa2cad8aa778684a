// Package trigger decides which pipelines an event starts: a push to a
// branch, a new tag, a schedule's tick. It also watches a repository's
// refs (no polling: the filesystem tells when a ref moves) and reads
// them, so the server sees new commits and tags however they arrive.
package trigger

import (
	"context"
	"strconv"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/schedule"
)

// Push is a ref that moved to a new commit: a branch pushed or a tag made.
type Push struct {
	// Ref is the full ref name: refs/heads/main, refs/tags/v1.2.
	Ref string
	// Old is the commit the ref held before ("" for a new ref), New the
	// one it holds now ("" for a deleted ref).
	Old, New string
}

// Branch is the branch a push is to, or "".
func (p Push) Branch() string {
	if b, ok := cut(p.Ref, "refs/heads/"); ok {
		return b
	}
	return ""
}

// Tag is the tag a push made, or "".
func (p Push) Tag() string {
	if t, ok := cut(p.Ref, "refs/tags/"); ok {
		return t
	}
	return ""
}

// Event is the pipeline event of the push: push for a branch, tag for a
// tag, "" for a deletion or another kind of ref (nothing runs).
func (p Push) Event() string {
	switch {
	case p.New == "" || isZero(p.New):
		return ""
	case p.Branch() != "":
		return config.EventPush
	case p.Tag() != "":
		return config.EventTag
	}
	return ""
}

func isZero(sha string) bool {
	for _, c := range sha {
		if c != '0' {
			return false
		}
	}
	return true
}

func cut(s, prefix string) (string, bool) {
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// Matches says whether p's `on:` starts a run for push: a plain `push`
// (any branch), `{branch: GLOB}` matching the branch, `tag` (any tag) or
// `{tag: GLOB}` matching the tag. A pipeline without `on:` is started by
// hand only: nothing runs on its own unless tug.yaml says so. Schedules
// and manual triggers never match a push.
func Matches(p *config.Pipeline, push Push) bool {
	ev := push.Event()
	if ev == "" || p == nil {
		return false
	}
	for _, t := range p.On {
		if t.Kind() != ev || t.Schedule != "" {
			continue
		}
		switch ev {
		case config.EventPush:
			if t.Tag != "" {
				continue
			}
			if t.Branch == "" || glob(t.Branch, push.Branch()) {
				return true
			}
		case config.EventTag:
			if t.Tag == "" || glob(t.Tag, push.Tag()) {
				return true
			}
		}
	}
	return false
}

// Pipelines lists the pipelines of cfg that push starts, in declaration
// order.
func Pipelines(cfg *config.Config, push Push) []string {
	var out []string
	for _, name := range cfg.PipelineOrder {
		if Matches(cfg.Pipelines[name], push) {
			out = append(out, name)
		}
	}
	return out
}

func glob(pattern, name string) bool {
	ok, err := doublestar.Match(pattern, name)
	return err == nil && ok
}

// Schedules are the schedule entries of cfg's pipelines, named
// "pipeline/NAME/INDEX" (the trigger's place in on:), each firing fire
// with the pipeline's name. A trigger whose expression does not parse
// (validation refuses it first) is left out.
func Schedules(cfg *config.Config, fire func(pipeline string, at time.Time)) []schedule.Entry {
	var out []schedule.Entry
	for _, name := range cfg.PipelineOrder {
		p := cfg.Pipelines[name]
		if p == nil {
			continue
		}
		for i, t := range p.On {
			if t.Schedule == "" {
				continue
			}
			spec, err := t.ScheduleSpec()
			if err != nil {
				continue
			}
			out = append(out, schedule.Entry{
				Name: "pipeline/" + name + "/" + strconv.Itoa(i),
				Spec: spec,
				Fire: func(_ context.Context, at time.Time) { fire(name, at) },
			})
		}
	}
	return out
}
