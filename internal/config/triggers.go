package config

import (
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/robfig/cron/v3"
	"github.com/tugdev/tug/internal/kit"
)

// Events a pipeline's `on:` may name, and the values of `tug run --event`.
// A {schedule: ...} trigger is the event "schedule", a {tag: ...} trigger
// the event "tag" and a {branch: ...} trigger the event "push".
const (
	EventPush     = "push"
	EventTag      = "tag"
	EventManual   = "manual"
	EventSchedule = "schedule"
)

// EventNames are the events `on:` accepts by name, in the order messages
// list them. "schedule" is not among them: it needs a cron expression.
func EventNames() []string { return []string{EventPush, EventTag, EventManual} }

// RunEvents are the events a run can be for (`tug run --event`).
func RunEvents() []string { return append(EventNames(), EventSchedule) }

// Kind is the event a trigger fires on.
func (t Trigger) Kind() string {
	switch {
	case t.Event != "":
		return t.Event
	case t.Schedule != "":
		return EventSchedule
	case t.Tag != "":
		return EventTag
	case t.Branch != "":
		return EventPush
	}
	return ""
}

// Allows says whether a run for event may start the pipeline: a pipeline
// without `on:` runs for any event, otherwise one of its triggers must be
// of that kind (branch, tag and schedule filters are not checked here).
func (p *Pipeline) Allows(event string) bool {
	if len(p.On) == 0 {
		return true
	}
	return slices.Contains(p.Events(), event)
}

// Events are the kinds of event the pipeline's triggers fire on, in
// declaration order without repeats.
func (p *Pipeline) Events() []string {
	var out []string
	for _, t := range p.On {
		if k := t.Kind(); k != "" && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// cronParser reads `schedule:` the way the server's scheduler will: five
// fields, or a descriptor such as @daily, with an optional CRON_TZ= prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule checks a cron expression; the error says why it is not one.
func ParseSchedule(expr string) (cron.Schedule, error) {
	return cronParser.Parse(expr)
}

// triggers checks a pipeline's `on:`: known event names, cron expressions
// that parse, and glob filters that compile.
func (v *validator) triggers(pp string, p *Pipeline) {
	for i, t := range p.On {
		tp := joinIndex(pp+".on", i)
		if !v.has(tp) {
			tp = pp + ".on" // `on: push`, a single trigger
		}
		if v.isBad(tp) {
			continue
		}
		if t.Event != "" {
			ep := tp
			if v.has(tp + ".event") {
				ep = tp + ".event"
			}
			v.event(ep, t.Event)
		}
		if v.has(tp + ".schedule") {
			sp := tp + ".schedule"
			switch {
			case strings.TrimSpace(t.Schedule) == "":
				v.errorf(sp, "empty schedule: write a cron expression such as \"0 3 * * *\" or @daily")
			default:
				if _, err := ParseSchedule(t.Schedule); err != nil {
					v.errorf(sp, "invalid cron expression %q: %v (five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly, @monthly)", t.Schedule, err)
				}
			}
			for _, other := range []string{"event", "tag", "branch"} {
				if v.has(tp + "." + other) {
					v.errorKey(tp, tp+"."+other, "schedule and %s conflict: a schedule trigger fires on time alone", other)
				}
			}
		}
		v.timezone(tp, t)
		if v.has(tp+".tag") && v.has(tp+".branch") {
			v.errorKey(tp, tp+".branch", "tag and branch conflict: a tag is not on a branch; write two triggers")
		}
		for _, g := range []struct{ key, pat string }{{"tag", t.Tag}, {"branch", t.Branch}} {
			if v.has(tp+"."+g.key) && !doublestar.ValidatePattern(g.pat) {
				v.errorf(tp+"."+g.key, "invalid glob pattern %q", g.pat)
			}
		}
	}
}

// event checks one event name.
func (v *validator) event(path, name string) {
	switch {
	case name == EventSchedule:
		v.errorf(path, "schedule needs a cron expression: write {schedule: \"0 3 * * *\"}")
	case !slices.Contains(EventNames(), name):
		v.errorf(path, "unknown event %q%s; events: %s, or {schedule: CRON}, {tag: GLOB}, {branch: GLOB}",
			name, kit.DidYouMean(name, EventNames()), strings.Join(EventNames(), ", "))
	}
}
