package deploy

import (
	"maps"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/proxy"
)

// edgeOf is what the proxy enforces on the routes of service in env: the
// service's rate_limit, max_body, headers and https, each overridden by
// the environment's (headers are merged, the environment's winning). Plain
// HTTP redirects to HTTPS by default when the proxy has an https
// listener. nil when there is nothing to enforce, so such routes cost the
// proxy nothing.
func edgeOf(c *config.Config, service, env string) *proxy.Edge {
	s := c.Services[service]
	if s == nil {
		return nil
	}
	rl, maxBody, https := s.RateLimit, s.MaxBody, s.HTTPS
	headers := maps.Clone(s.Headers)
	if o := s.Environments[env]; o != nil {
		if o.RateLimit != nil {
			rl = o.RateLimit
		}
		if o.MaxBody > 0 {
			maxBody = o.MaxBody
		}
		if o.HTTPS != nil {
			https = o.HTTPS
		}
		if len(o.Headers) > 0 {
			if headers == nil {
				headers = map[string]string{}
			}
			maps.Copy(headers, o.Headers)
		}
	}
	e := &proxy.Edge{MaxBody: int64(maxBody), Headers: headers}
	if rl != nil {
		e.RateLimit = &proxy.RateLimit{Requests: rl.Requests, Per: rl.Per.D(), Burst: rl.Burst, By: rl.By}
	}
	e.RedirectHTTPS = c.Proxy != nil && c.Proxy.HTTPS != ""
	if https != nil {
		if https.Redirect != nil {
			e.RedirectHTTPS = *https.Redirect
		}
		e.HSTS = https.HSTS.D()
	}
	if e.RateLimit == nil && e.MaxBody == 0 && len(e.Headers) == 0 && !e.RedirectHTTPS && e.HSTS == 0 {
		return nil
	}
	return e
}
