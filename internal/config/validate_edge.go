package config

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/tugdev/tug/internal/kit"
)

// ACMEChallenges are the ACME challenges the proxy answers.
func ACMEChallenges() []string { return []string{"http-01", "tls-alpn-01"} }

// edge checks the per-route edge keys of every service and its
// environments.
func (v *validator) edge() {
	https := v.c.Proxy != nil && v.c.Proxy.HTTPS != ""
	for _, name := range v.c.ServiceOrder {
		s := v.c.Services[name]
		if s == nil {
			continue
		}
		sp := "services." + name
		v.routeEdge(sp, s.RateLimit, s.Headers, s.HTTPS, https)
		for _, env := range slices.Sorted(maps.Keys(s.Environments)) {
			if o := s.Environments[env]; o != nil {
				v.routeEdge(sp+".environments."+env, o.RateLimit, o.Headers, o.HTTPS, https)
			}
		}
	}
}

func (v *validator) routeEdge(sp string, rl *RateLimit, headers map[string]string, h *ServiceHTTPS, https bool) {
	if rl != nil {
		p := sp + ".rate_limit"
		if rl.Requests < 1 {
			v.errorKey(p+".requests", p, "requests must be at least 1 (requests per `per`, e.g. {requests: 100, per: 1s})")
		}
		if rl.Burst < 0 {
			v.errorf(p+".burst", "must not be negative (the default is requests)")
		}
		if rl.By != "" && rl.By != "client_ip" {
			name, ok := strings.CutPrefix(rl.By, "header:")
			switch {
			case !ok:
				v.errorf(p+".by", "unknown value %q%s; allowed: client_ip, header:NAME (e.g. header:X-Api-Key)", rl.By, kit.DidYouMean(rl.By, []string{"client_ip"}))
			case !httpguts.ValidHeaderFieldName(name):
				v.errorf(p+".by", "%q is not a header name", name)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		p := sp + ".headers." + k
		switch {
		case !httpguts.ValidHeaderFieldName(k):
			v.errorKey(p, p, "%q is not a header name", k)
		case !httpguts.ValidHeaderFieldValue(headers[k]):
			v.errorf(p, "the value holds a control character (a line break?)")
		case framingHeader(k):
			v.errorKey(p, p, "%s belongs to the connection, not the answer: the proxy sets it", http.CanonicalHeaderKey(k))
		}
	}
	if h != nil && h.Redirect != nil && *h.Redirect && !https {
		v.errorf(sp+".https.redirect", "redirecting to HTTPS needs an https listener: set proxy.https and proxy.tls")
	}
}

// framingHeader: a header the proxy may not let a route set, because it
// frames the answer or belongs to one connection.
func framingHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Content-Length", "Transfer-Encoding", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection":
		return true
	}
	return false
}

// tlsSource checks where a listener's certificates come from: exactly one
// of cert and key, local_ca, or acme.
func (v *validator) tlsSource(path string, t *TLS) {
	if t == nil {
		return
	}
	files := t.Cert != "" || t.Key != ""
	n := 0
	for _, b := range []bool{files, t.LocalCA, t.ACME != nil} {
		if b {
			n++
		}
	}
	switch {
	case n == 0:
		v.errorKey(path, path, "say where certificates come from: cert and key (PEM files), local_ca: true, or acme: {email: ...}")
	case n > 1:
		v.errorKey(path, path, "cert/key, local_ca and acme conflict: give exactly one")
	case files && t.Cert == "":
		v.errorKey(path+".cert", path, "missing cert (a PEM file)")
	case files && t.Key == "":
		v.errorKey(path+".key", path, "missing key (a PEM file)")
	}
	if a := t.ACME; a != nil {
		p := path + ".acme"
		if a.Email != "" && !strings.Contains(a.Email, "@") {
			v.errorf(p+".email", "%q is not an email address", a.Email)
		}
		if a.CA != "" {
			if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
				v.errorf(p+".ca", "%q is not an https URL of an ACME directory", a.CA)
			}
		}
		v.enum(p+".challenge", a.Challenge, ACMEChallenges()...)
	}
}
