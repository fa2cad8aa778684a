package config

import (
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/kit"
)

// Values of a service's deploy.strategy.
func strategyValues() []string { return []string{"rolling", "blue-green", "canary"} }

func (v *validator) service(sp string, s *Service) {
	hasImage := v.has(sp + ".image")
	v.serviceKind(sp, s)
	if s.Pull && !hasImage {
		v.errorf(sp+".pull", "pull is only for services with an image (this one has run)")
	}
	if v.has(sp+".port") && (s.Port < 1 || s.Port > 65535) {
		v.errorf(sp+".port", "must be between 1 and 65535, got %d", s.Port)
	}
	if v.has(sp+".replicas") && s.Replicas < 0 {
		v.errorf(sp+".replicas", "must not be negative, got %d", s.Replicas)
	}
	v.envKeys(sp + ".env")
	v.secretNames(sp+".secrets", s.Secrets)
	v.routeSyntax(sp+".routes", s.Routes)
	if s.Deploy != nil {
		dp := sp + ".deploy"
		v.enum(dp+".strategy", s.Deploy.Strategy, strategyValues()...)
		v.steps(dp+".steps", s.Deploy.Steps)
		if s.Deploy.Analysis != nil {
			v.analysisQueries(dp+".analysis", s.Deploy.Analysis)
		}
	}
	for _, env := range v.d.order[sp+".environments"] {
		ep := sp + ".environments." + env
		v.knownEnvironment(ep, env)
		o := s.Environments[env]
		if v.has(ep+".replicas") && o.Replicas < 0 {
			v.errorf(ep+".replicas", "must not be negative, got %d", o.Replicas)
		}
		v.envKeys(ep + ".env")
		v.routeSyntax(ep+".routes", o.Routes)
	}
}

// steps checks traffic steps (a canary's, a flag ramp's): weights 1..100,
// rising from step to step.
func (v *validator) steps(path string, steps []CanaryStep) {
	prev := 0
	for i, st := range steps {
		wp := joinIndex(path, i) + ".weight"
		switch {
		case !v.has(wp):
			v.errorf(wp, "missing weight (1..100)")
		case st.Weight < 1 || st.Weight > 100:
			v.errorf(wp, "must be between 1 and 100, got %d", st.Weight)
		case st.Weight <= prev:
			v.errorf(wp, "must be greater than the previous step's weight %d", prev)
		}
		if st.Weight > prev {
			prev = st.Weight
		}
	}
}

// knownEnvironment reports a key at ep naming an environment that is not
// declared.
func (v *validator) knownEnvironment(ep, env string) {
	if v.c.Environments[env] != nil {
		return
	}
	if len(v.c.EnvironmentOrder) == 0 {
		v.errorKey(ep, ep, "unknown environment %q (no environments are declared)", env)
	} else {
		v.errorKey(ep, ep, "unknown environment %q%s", env, kit.DidYouMean(env, v.c.EnvironmentOrder))
	}
}

func (v *validator) routeSyntax(path string, routes []string) {
	for i, r := range routes {
		if strings.TrimSpace(r) == "" || strings.ContainsAny(r, " \t") {
			v.errorf(joinIndex(path, i), "invalid route %q: want a host name with an optional /path prefix", r)
		}
	}
}

// routes checks that no route is claimed twice: two services may not share
// a route, and one service may not claim the same route in two environments.
func (v *validator) routes() {
	type claim struct {
		service, env string
		owner, path  string // who claims it, and where
	}
	claims := map[string][]claim{}
	add := func(c claim, route string) {
		key := strings.ToLower(strings.TrimSpace(route))
		for _, first := range claims[key] {
			if first.service != c.service || (first.env != "" && c.env != "" && first.env != c.env) {
				v.errorf(c.path, "route %q is already claimed by %s", route, first.owner)
				return
			}
		}
		claims[key] = append(claims[key], c)
	}
	for _, name := range v.c.ServiceOrder {
		s := v.c.Services[name]
		sp := "services." + name
		for i, r := range s.Routes {
			add(claim{name, "", sp, joinIndex(sp+".routes", i)}, r)
		}
		for _, env := range v.d.order[sp+".environments"] {
			ep := sp + ".environments." + env
			for i, r := range s.Environments[env].Routes {
				add(claim{name, env, ep, joinIndex(ep+".routes", i)}, r)
			}
		}
		v.inheritedRoutes(sp, s)
	}
}

// inheritedRoutes checks the routes a service's environments inherit: an
// environment without routes of its own serves the service's routes, so
// two such environments (or one, and another that names the same route)
// would claim one host name twice, and the proxy would send all of its
// traffic to whichever was deployed last.
func (v *validator) inheritedRoutes(sp string, s *Service) {
	if len(s.Routes) == 0 || len(v.c.EnvironmentOrder) < 2 {
		return
	}
	var inherit []string
	own := map[string]string{} // route -> environment naming it itself
	for _, env := range v.c.EnvironmentOrder {
		o := s.Environments[env]
		if o == nil || len(o.Routes) == 0 {
			inherit = append(inherit, env)
			continue
		}
		for _, r := range o.Routes {
			own[strings.ToLower(strings.TrimSpace(r))] = env
		}
	}
	for i, r := range s.Routes {
		rp := joinIndex(sp+".routes", i)
		key := strings.ToLower(strings.TrimSpace(r))
		switch {
		case len(inherit) >= 2:
			v.errorf(rp, "route %q would serve both %s and %s (an environment without routes of its own inherits the service's): give %s its own under %s.environments.%s.routes",
				r, inherit[0], inherit[1], inherit[1], sp, inherit[1])
		case len(inherit) == 1 && own[key] != "":
			v.errorf(joinIndex(sp+".environments."+own[key]+".routes", slices.IndexFunc(s.Environments[own[key]].Routes, func(x string) bool {
				return strings.ToLower(strings.TrimSpace(x)) == key
			})), "route %q is already served by %s, which inherits %s.routes", r, inherit[0], sp)
		}
	}
}

func (v *validator) environments() {
	for _, name := range v.c.EnvironmentOrder {
		e := v.c.Environments[name]
		v.approval(name, e.Approval)
	}
}
