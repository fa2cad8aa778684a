package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/kit"
)

// notify checks where alerts go (channels and routes) and the alerting
// inputs around it: alert_files globs and service SLOs.
func (v *validator) notify() {
	v.globs("alert_files", v.c.AlertFiles)
	for _, name := range v.c.ServiceOrder {
		if s := v.c.Services[name]; s != nil && s.SLO != nil {
			v.slo("services."+name+".slo", s.SLO)
		}
	}
	n := v.c.Notify
	if n == nil {
		return
	}
	var names []string
	for i, c := range n.Channels {
		cp := joinIndex("notify.channels", i)
		if c == nil {
			v.errorf(cp, "empty channel: set name and one of webhook, slack, email or alertmanager")
			continue
		}
		switch {
		case c.Name == "":
			v.errorKey(cp+".name", cp, "missing channel name")
		case slices.Contains(names, c.Name):
			v.errorf(cp+".name", "channel %q is declared twice", c.Name)
		default:
			names = append(names, c.Name)
		}
		var kinds []string
		for _, k := range []struct {
			name string
			set  bool
		}{{"webhook", c.Webhook != nil}, {"slack", c.Slack != nil}, {"email", c.Email != nil}, {"alertmanager", c.Alertmanager != nil}} {
			if k.set {
				kinds = append(kinds, k.name)
			}
		}
		switch len(kinds) {
		case 0:
			v.errorKey(cp, cp, "channel has no kind: set one of webhook, slack, email or alertmanager")
		case 1:
		default:
			v.errorKey(cp, cp+"."+kinds[1], "%s conflict: a channel has exactly one kind", strings.Join(kinds, " and "))
		}
		v.channelURL(cp+".webhook.url", c.Webhook)
		v.channelURL(cp+".slack.url", c.Slack)
		v.channelURL(cp+".alertmanager.url", c.Alertmanager)
		if c.Email != nil {
			v.email(cp+".email", c.Email)
		}
	}
	for i, r := range n.Routes {
		rp := joinIndex("notify.routes", i)
		if r == nil {
			v.errorf(rp, "empty route: set channel")
			continue
		}
		switch {
		case r.Channel == "":
			v.errorKey(rp+".channel", rp, "missing channel")
		case !slices.Contains(names, r.Channel):
			v.unknownName(rp+".channel", rp+".channel", "channel", r.Channel, names)
		}
		for _, k := range v.d.order[rp+".match"] {
			mp := rp + ".match." + k
			if !validLabelName(k) {
				v.errorKey(mp, mp, "invalid label name %q: use letters, digits and _, not starting with a digit", k)
			}
			if _, err := regexp.Compile(r.Match[k]); err != nil {
				v.errorf(mp, "invalid regular expression %q: %s", r.Match[k], regexpReason(err))
			}
		}
		for j, l := range r.GroupBy {
			if !validLabelName(l) {
				v.errorf(joinIndex(rp+".group_by", j), "invalid label name %q: use letters, digits and _, not starting with a digit", l)
			}
		}
	}
}

// channelURL checks a webhook, Slack or Alertmanager URL.
func (v *validator) channelURL(path string, c *URLChannel) {
	if c == nil {
		return
	}
	if c.URL == "" {
		v.errorKey(path, parentPath(path), "missing url")
		return
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.errorf(path, "invalid url %q: want http:// or https:// and a host", c.URL)
	}
}

func (v *validator) email(ep string, e *EmailChannel) {
	if len(e.To) == 0 {
		v.errorKey(ep+".to", ep, "missing recipients (to)")
	}
	for i, to := range e.To {
		if !strings.Contains(to, "@") {
			v.errorf(joinIndex(ep+".to", i), "invalid address %q", to)
		}
	}
	sp := ep + ".smtp"
	if e.SMTP.Host == "" {
		v.errorKey(sp+".host", ep, "missing smtp.host")
	}
	if e.SMTP.From == "" {
		v.errorKey(sp+".from", ep, "missing smtp.from")
	} else if !strings.Contains(e.SMTP.From, "@") {
		v.errorf(sp+".from", "invalid address %q", e.SMTP.From)
	}
	if v.has(sp+".port") && (e.SMTP.Port < 1 || e.SMTP.Port > 65535) {
		v.errorf(sp+".port", "must be between 1 and 65535, got %d", e.SMTP.Port)
	}
	if p := e.SMTP.Password; p != "" && !kit.ValidEnvName(p) {
		v.errorf(sp+".password_secret", "invalid secret name %q: use letters, digits and _, not starting with a digit", p)
	}
}

// slo checks an availability objective.
func (v *validator) slo(sp string, s *SLO) {
	if !v.has(sp + ".availability") {
		v.errorKey(sp+".availability", sp, "missing availability (a percentage such as 99.9)")
	} else if s.Availability <= 0 || s.Availability >= 100 {
		v.errorf(sp+".availability", "must be a percentage above 0 and below 100, got %g", s.Availability)
	}
	if v.has(sp+".window") && s.Window <= 0 {
		v.errorf(sp+".window", "must be positive, got %s", s.Window.D())
	}
}

// validLabelName says whether s is a Prometheus label name: the same
// rule as a portable environment variable name.
func validLabelName(s string) bool { return kit.ValidEnvName(s) }

// regexpReason is the part of a regexp error after its "error parsing
// regexp: " prefix.
func regexpReason(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}
