package config

import (
	"maps"
	"net"
	"slices"
	"strconv"
)

// server checks the `server:` section and notify.commit_status.
func (v *validator) server() {
	if s := v.c.Server; s != nil {
		if s.MaxParallelRuns < 0 {
			v.errorf("server.max_parallel_runs", "must be at least 1 (or left out for the default, 2)")
		}
		if r := s.Registry; r != nil {
			if r.Listen == "" {
				v.errorKey("server.registry", "server.registry", "listen is required: host:port, e.g. 127.0.0.1:5000")
			} else if _, port, err := net.SplitHostPort(r.Listen); err != nil {
				v.errorf("server.registry.listen", "want host:port, e.g. 127.0.0.1:5000: %v", err)
			} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				v.errorf("server.registry.listen", "port %q: want 1..65535", port)
			} else {
				v.registryListen("server.registry.listen", r.Listen)
			}
			if v.has("server.registry.keep") && r.Keep < 1 {
				v.errorf("server.registry.keep", "must be at least 1 (or left out for the default, 10)")
			}
		}
		for _, forge := range slices.Sorted(maps.Keys(s.Webhooks)) {
			path := "server.webhooks." + forge
			if !slices.Contains(Forges(), forge) {
				v.unknownName(path, path, "forge", forge, Forges())
				continue
			}
			if w := s.Webhooks[forge]; w == nil || w.Secret == "" {
				v.errorKey(path, path, "secret is required: the name of the secret holding the webhook's shared secret")
			} else {
				v.secretName(path+".secret", w.Secret)
			}
		}
	}
	if v.c.Notify != nil && v.c.Notify.CommitStatus != nil {
		cs, path := v.c.Notify.CommitStatus, "notify.commit_status"
		switch {
		case cs.Forge == "":
			v.errorKey(path, path, "forge is required: one of github, gitlab, gitea")
		case !slices.Contains(Forges(), cs.Forge):
			v.enum(path+".forge", cs.Forge, Forges()...)
		}
		if cs.URL == "" {
			v.errorKey(path, path, "url is required: the forge's base URL")
		}
		if cs.TokenSecret == "" {
			v.errorKey(path, path, "token_secret is required: the name of the secret holding the forge's API token")
		} else {
			v.secretName(path+".token_secret", cs.TokenSecret)
		}
	}
}
