package config

import (
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // schedules and their validation read zones the same on every machine

	"github.com/robfig/cron/v3"

	"github.com/tugdev/tug/internal/kit"
)

// templateRef finds the ${{ NAME }} references of a concurrency group.
var templateRef = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// concurrency checks a pipeline's concurrency group.
func (v *validator) concurrency(pp string, p *Pipeline) {
	c, cp := p.Concurrency, pp+".concurrency"
	if c == nil || v.isBad(cp) {
		return
	}
	if strings.TrimSpace(c.Group) == "" {
		v.errorKey(cp, cp, "group is required: a name such as \"ci-${{ branch }}\"")
		return
	}
	for _, m := range templateRef.FindAllStringSubmatch(c.Group, -1) {
		if !slices.Contains(ConcurrencyVars(), m[1]) {
			v.errorf(cp+".group", "unknown name %q in ${{ }}%s; names: %s", m[1],
				kit.DidYouMean(m[1], ConcurrencyVars()), strings.Join(ConcurrencyVars(), ", "))
		}
	}
}

// ExpandGroup fills a concurrency group's ${{ NAME }} references from vars.
func ExpandGroup(group string, vars map[string]string) string {
	return templateRef.ReplaceAllStringFunc(group, func(m string) string {
		return vars[templateRef.FindStringSubmatch(m)[1]]
	})
}

// jobSmoke checks a job's smoke checks: only on a deploy job, each an
// HTTP probe or a command.
func (v *validator) jobSmoke(jp string, j *Job) {
	sp := jp + ".smoke"
	if !v.has(sp) || v.isBad(sp) {
		return
	}
	if j.Deploy == nil {
		v.errorKey(sp, sp, "smoke checks a deploy job's new release: add deploy: to the job, or run the check as a job of its own")
		return
	}
	for i, s := range j.Smoke {
		v.smoke(joinIndex(sp, i), s)
	}
}

// smoke checks one smoke check.
func (v *validator) smoke(path string, s Smoke) {
	if s.Path == "" && s.Run == "" {
		v.errorKey(path, path, "a smoke check needs path (an HTTP probe) or run (a command)")
	}
	if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
		v.errorf(path+".path", "want an absolute path such as /healthz, got %q", s.Path)
	}
	if v.has(path+".expect_status") && (s.ExpectStatus < 100 || s.ExpectStatus > 599) {
		v.errorf(path+".expect_status", "want an HTTP status 100..599, got %d", s.ExpectStatus)
	}
	for _, k := range []string{"expect_status", "expect_body"} {
		if v.has(path+"."+k) && s.Path == "" {
			v.errorKey(path, path+"."+k, "%s checks an HTTP probe: set path", k)
		}
	}
}

// timezone checks a schedule trigger's time zone.
func (v *validator) timezone(tp string, t Trigger) {
	zp := tp + ".timezone"
	if !v.has(zp) {
		return
	}
	if t.Schedule == "" {
		v.errorKey(tp, zp, "timezone is for a schedule: add schedule: to the trigger")
		return
	}
	if _, err := time.LoadLocation(t.Timezone); err != nil || t.Timezone == "" || strings.EqualFold(t.Timezone, "local") {
		v.errorf(zp, "unknown time zone %q: want an IANA name such as UTC or Europe/Paris", t.Timezone)
	}
}

// ScheduleSpec parses a schedule trigger's cron expression in its time
// zone (the server's local time without one).
func (t Trigger) ScheduleSpec() (cron.Schedule, error) {
	if t.Timezone != "" {
		return ParseSchedule("CRON_TZ=" + t.Timezone + " " + t.Schedule)
	}
	return ParseSchedule(t.Schedule)
}
