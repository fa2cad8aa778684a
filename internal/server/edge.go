package server

import (
	"crypto/x509"
	"errors"
	"os"

	"github.com/tugdev/tug/internal/config"
)

// proxyTLSArgs are the proxy's flags for where its https listener's
// certificates come from (tug.yaml's proxy.tls; paths relative to
// tug.yaml made absolute).
func proxyTLSArgs(base string, t *config.TLS) []string {
	switch {
	case t.LocalCA:
		return []string{"--tls-local"}
	case t.ACME != nil:
		a := t.ACME
		argv := []string{"--acme"}
		for _, f := range []struct{ flag, val string }{
			{"--acme-email", a.Email}, {"--acme-ca", a.CA}, {"--acme-challenge", a.Challenge},
		} {
			if f.val != "" {
				argv = append(argv, f.flag, f.val)
			}
		}
		if a.CARoot != "" {
			argv = append(argv, "--acme-ca-root", absFrom(base, a.CARoot))
		}
		return argv
	}
	return []string{"--tls-cert", absFrom(base, t.Cert), "--tls-key", absFrom(base, t.Key)}
}

// checkEdge refuses what the proxy would refuse about its certificates
// beyond the loader's rules: an ACME CA root file it cannot read.
func checkEdge(cfg *config.Config, dir string) config.Errors {
	p := cfg.Proxy
	if p == nil || p.TLS == nil || p.TLS.ACME == nil || p.TLS.ACME.CARoot == "" {
		return nil
	}
	b, err := os.ReadFile(absFrom(dir, p.TLS.ACME.CARoot))
	if err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
		err = errors.New("no PEM certificate in it")
	}
	if err != nil {
		return config.Errors{cfg.Errorf("proxy.tls.acme.ca_root", "the proxy cannot read the ACME CA's roots: %v", err)}
	}
	return nil
}
