package alert

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
)

// Alertmanager's default timings, used where a route sets none.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// route sends the alerts it matches to one channel.
type route struct {
	id       string // unique among routes
	key      string // Alertmanager-style route key, for group keys
	channel  string
	match    []labelRegex
	groupBy  []string
	wait     time.Duration
	interval time.Duration
	repeat   time.Duration
	cont     bool
	// refresh re-sends firing alerts every repeat even when acknowledged
	// (an external Alertmanager expires alerts not re-sent).
	refresh bool
	// openFor is the route's open_for (nil when it sets none).
	openFor []string
}

type labelRegex struct {
	name, expr string
	re         *regexp.Regexp
}

// matches says whether every label regex matches. The severity label also
// matches by its Prometheus-style name, so severity: critical selects P0.
func (r *route) matches(lbls map[string]string) bool {
	for _, m := range r.match {
		v := lbls[m.name]
		if m.re.MatchString(v) {
			continue
		}
		if m.name == LabelSeverity && m.re.MatchString(SeverityName(v)) {
			continue
		}
		return false
	}
	return true
}

// buildRoutes compiles notify.routes; without routes, every channel gets
// every alert, grouped by alertname and service.
func buildRoutes(n *config.Notify, channels map[string]*namedChannel, order []string) ([]*route, error) {
	if n == nil || len(n.Routes) == 0 {
		var out []*route
		for _, name := range order {
			out = append(out, &route{
				id:       "channel:" + name,
				key:      "{}",
				channel:  name,
				groupBy:  []string{LabelAlertName, LabelService},
				wait:     DefaultGroupWait,
				interval: DefaultGroupInterval,
				repeat:   DefaultRepeatInterval,
				cont:     true,
			})
		}
		return out, nil
	}
	var out []*route
	for i, r := range n.Routes {
		if r == nil {
			continue
		}
		where := fmt.Sprintf("notify.routes[%d]", i)
		if channels[r.Channel] == nil {
			return nil, fmt.Errorf("%w: %s.channel: unknown channel %q", ErrInvalid, where, r.Channel)
		}
		rt := &route{
			channel:  r.Channel,
			groupBy:  append([]string(nil), r.GroupBy...),
			wait:     orDefault(r.GroupWait.D(), DefaultGroupWait),
			interval: orDefault(r.GroupInterval.D(), DefaultGroupInterval),
			repeat:   orDefault(r.RepeatInterval.D(), DefaultRepeatInterval),
			cont:     r.Continue,
			openFor:  r.OpenFor,
		}
		names := make([]string, 0, len(r.Match))
		for k := range r.Match {
			names = append(names, k)
		}
		sort.Strings(names)
		var parts []string
		for _, k := range names {
			re, err := regexp.Compile("^(?:" + r.Match[k] + ")$")
			if err != nil {
				return nil, fmt.Errorf("%w: %s.match.%s: bad regular expression %q: %v", ErrInvalid, where, k, r.Match[k], err)
			}
			rt.match = append(rt.match, labelRegex{name: k, expr: r.Match[k], re: re})
			parts = append(parts, fmt.Sprintf("%s=~%q", k, "^(?:"+r.Match[k]+")$"))
		}
		rt.id = fmt.Sprintf("route:%d", i)
		rt.key = fmt.Sprintf("{}/{%s}", strings.Join(parts, ","))
		out = append(out, rt)
	}
	return out, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// routesFor lists the routes an alert goes to: every matching route up to
// and including the first one without continue.
func routesFor(routes []*route, lbls map[string]string) []*route {
	var out []*route
	for _, r := range routes {
		if !r.matches(lbls) {
			continue
		}
		out = append(out, r)
		if !r.cont {
			break
		}
	}
	return out
}

// groupLabels are the labels of lbls named by groupBy.
func groupLabels(groupBy []string, lbls map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range groupBy {
		if v, ok := lbls[k]; ok {
			out[k] = v
		}
	}
	return out
}
