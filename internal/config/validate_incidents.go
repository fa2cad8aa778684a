package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// incidents checks the incidents and oncall sections and the services'
// and alerts' remediation. Whether a remediation's alert exists is the
// incident room's check (server.Check), which knows the rule files.
func (v *validator) incidents() {
	var channels []string
	if v.c.Notify != nil {
		for _, c := range v.c.Notify.Channels {
			if c != nil && c.Name != "" {
				channels = append(channels, c.Name)
			}
		}
		for i, r := range v.c.Notify.Routes {
			if r != nil {
				v.severities(joinIndex("notify.routes", i)+".open_for", r.OpenFor)
			}
		}
	}
	rotations := slices.Sorted(maps.Keys(v.c.Oncall))
	if in := v.c.Incidents; in != nil {
		v.severities("incidents.open_for", in.OpenFor)
		v.positive("incidents.group_window", in.GroupWindow)
		v.positive("incidents.ack_timeout", in.AckTimeout)
		for i, l := range in.Escalation {
			lp := joinIndex("incidents.escalation", i)
			switch {
			case l == nil || l.Channel == "":
				v.errorKey(lp+".channel", lp, "missing channel: the notify channel this level pages")
			case !slices.Contains(channels, l.Channel):
				v.unknownName(lp+".channel", lp+".channel", "channel", l.Channel, channels)
			}
			if l != nil && l.Oncall != "" && v.c.Oncall[l.Oncall] == nil {
				v.unknownName(lp+".oncall", lp+".oncall", "rotation", l.Oncall, rotations)
			}
		}
		if in.URL != "" && !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
			v.errorf("incidents.url", "want an http:// or https:// URL, got %q", in.URL)
		}
		if sp := in.StatusPage; sp != nil {
			v.statusPage(sp)
		}
	}
	for _, name := range rotations {
		v.rotation("oncall."+name, v.c.Oncall[name])
	}
	for _, name := range v.c.ServiceOrder {
		s := v.c.Services[name]
		for i, r := range s.Remediation {
			rp := joinIndex("services."+name+".remediation", i)
			if r != nil && r.Alert == "" {
				v.errorKey(rp+".alert", rp, "missing alert: the name of the alert that triggers it")
			}
			v.remediation(rp, r)
		}
	}
	for i, a := range v.c.Alerts {
		for j, r := range a.Remediation {
			rp := joinIndex(joinIndex("alerts", i)+".remediation", j)
			if r != nil && r.Alert != "" && r.Alert != a.Alert {
				v.errorf(rp+".alert", "names alert %q, but this is alert %q's remediation: leave it out", r.Alert, a.Alert)
			}
			v.remediation(rp, r)
		}
	}
}

// positive refuses a duration written as 0.
func (v *validator) positive(key string, d Duration) {
	if v.has(key) && d <= 0 {
		v.errorf(key, "must be greater than 0")
	}
}

// severities checks a list of incident-opening severities.
func (v *validator) severities(path string, list []string) {
	for i, s := range list {
		v.enum(joinIndex(path, i), s, severityValues()...)
	}
}

func (v *validator) remediation(rp string, r *Remediation) {
	if r == nil {
		v.errorKey(rp, rp, "empty remediation: set alert and action")
		return
	}
	switch {
	case r.Action == "":
		v.errorKey(rp+".action", rp, "missing action: one of %s", strings.Join(RemediationActions(), ", "))
	default:
		v.enum(rp+".action", r.Action, RemediationActions()...)
	}
	v.enum(rp+".mode", r.Mode, ModeAct, ModePropose)
	if v.has(rp + ".within") {
		switch {
		case r.Within <= 0:
			v.errorf(rp+".within", "must be greater than 0")
		case r.Action != ActionRollback && r.Action != "":
			v.errorf(rp+".within", "only a rollback looks back at the last deploy; %s does not use within", r.Action)
		}
	}
	switch {
	case r.Action == ActionScaleOut && !v.has(rp+".max"):
		v.errorKey(rp+".max", rp, "scale_out needs max: the most instances it may scale to")
	case r.Action == ActionScaleOut && (r.Max < 1 || r.Max > 100):
		v.errorf(rp+".max", "must be between 1 and 100, got %d", r.Max)
	case r.Action != ActionScaleOut && v.has(rp+".max"):
		v.errorf(rp+".max", "only scale_out has a maximum")
	}
}

func (v *validator) statusPage(sp *StatusPage) {
	const p = "incidents.status_page"
	if strings.TrimSpace(sp.Route) == "" {
		v.errorKey(p+".route", p, "missing route: the host name (and optional /path) the proxy serves the page on")
		return
	}
	if strings.ContainsAny(sp.Route, " \t") {
		v.errorf(p+".route", "invalid route %q: want a host name with an optional /path prefix", sp.Route)
		return
	}
	key := strings.ToLower(strings.TrimSpace(sp.Route))
	for _, name := range v.c.ServiceOrder {
		s := v.c.Services[name]
		all := slices.Clone(s.Routes)
		for _, e := range s.Environments {
			if e != nil {
				all = append(all, e.Routes...)
			}
		}
		for _, r := range all {
			if strings.ToLower(strings.TrimSpace(r)) == key {
				v.errorf(p+".route", "route %q is already claimed by services.%s", sp.Route, name)
				return
			}
		}
	}
}

func (v *validator) rotation(rp string, r *Rotation) {
	if r == nil || len(r.Rotation) == 0 {
		v.errorKey(rp+".rotation", rp, "missing rotation: the people who take turns, e.g. [ana, ben]")
		if r == nil {
			return
		}
	}
	for i, who := range r.Rotation {
		if strings.TrimSpace(who) == "" {
			v.errorf(joinIndex(rp+".rotation", i), "empty name")
		}
	}
	if _, err := ParseHandoff(r.Handoff); err != nil {
		v.errorf(rp+".handoff", "%v", err)
	}
	loc, err := r.Location()
	if err != nil {
		v.errorf(rp+".timezone", "%v", err)
		return
	}
	for i, o := range r.Overrides {
		op := joinIndex(rp+".overrides", i)
		if o == nil || strings.TrimSpace(o.Who) == "" {
			v.errorKey(op+".who", op, "missing who: the person on call instead")
			if o == nil {
				continue
			}
		}
		from, ferr := ParseOncallTime(o.From, loc)
		if ferr != nil {
			v.errorf(op+".from", "%v", ferr)
		}
		until, uerr := ParseOncallTime(o.Until, loc)
		if uerr != nil {
			v.errorf(op+".until", "%v", uerr)
		}
		if ferr == nil && uerr == nil && !until.After(from) {
			v.errorf(op+".until", "must be after from (%s)", o.From)
		}
	}
}

// Handoff is when an on-call shift changes hands: every week on Weekday
// at Hour:Minute, or every day (Daily).
type Handoff struct {
	Daily        bool
	Weekday      time.Weekday
	Hour, Minute int
}

// DefaultHandoff is a rotation's handoff when it names none.
const DefaultHandoff = "mon 09:00"

// ParseHandoff reads "mon 09:00" (weekly; any day name or its first three
// letters) or "09:00" (daily); "" is DefaultHandoff.
func ParseHandoff(s string) (Handoff, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultHandoff
	}
	fields := strings.Fields(strings.ToLower(s))
	var h Handoff
	clock := ""
	switch len(fields) {
	case 1:
		h.Daily, clock = true, fields[0]
	case 2:
		day, ok := weekday(fields[0])
		if !ok {
			return h, fmt.Errorf("invalid handoff %q: %q is not a day (mon, tue, ..., sun)", s, fields[0])
		}
		h.Weekday, clock = day, fields[1]
	default:
		return h, fmt.Errorf("invalid handoff %q: want a day and a time (\"mon 09:00\") or a time (\"09:00\")", s)
	}
	hh, mm, ok := strings.Cut(clock, ":")
	hour, herr := strconv.Atoi(hh)
	minute, merr := strconv.Atoi(mm)
	if !ok || herr != nil || merr != nil || hour < 0 || hour > 23 || minute < 0 || minute > 59 || len(mm) != 2 {
		return h, fmt.Errorf("invalid handoff %q: the time must be HH:MM (00:00 to 23:59)", s)
	}
	h.Hour, h.Minute = hour, minute
	return h, nil
}

func weekday(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}

// Location is the rotation's time zone (UTC when it names none).
func (r *Rotation) Location() (*time.Location, error) {
	if r == nil || r.Timezone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(r.Timezone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: want an IANA name such as UTC or Europe/Berlin", r.Timezone)
	}
	return loc, nil
}

// oncallTimeLayout is how overrides write a time in the rotation's zone.
const oncallTimeLayout = "2006-01-02 15:04"

// ParseOncallTime reads an override's time: "YYYY-MM-DD HH:MM" in loc, or
// RFC 3339.
func ParseOncallTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(oncallTimeLayout, strings.TrimSpace(s), loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("invalid time %q: write \"YYYY-MM-DD HH:MM\" (in the rotation's time zone) or RFC 3339", s)
}
