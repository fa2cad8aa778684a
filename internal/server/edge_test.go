package server

import (
	"slices"
	"testing"

	"github.com/tugdev/tug/internal/config"
)

// TestProxyTLSArgs: tug.yaml's certificate source becomes the proxy's
// flags, paths made absolute from tug.yaml's directory.
func TestProxyTLSArgs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tls  *config.TLS
		want []string
	}{
		{&config.TLS{Cert: "c.pem", Key: "/k.pem"}, []string{"--tls-cert", "/repo/c.pem", "--tls-key", "/k.pem"}},
		{&config.TLS{LocalCA: true}, []string{"--tls-local"}},
		{&config.TLS{ACME: &config.ACME{}}, []string{"--acme"}},
		{&config.TLS{ACME: &config.ACME{Email: "ops@x.test", CA: "https://ca.test/dir", CARoot: "roots.pem", Challenge: "tls-alpn-01"}},
			[]string{"--acme", "--acme-email", "ops@x.test", "--acme-ca", "https://ca.test/dir", "--acme-challenge", "tls-alpn-01", "--acme-ca-root", "/repo/roots.pem"}},
	} {
		if got := proxyTLSArgs("/repo", c.tls); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.tls, got, c.want)
		}
	}
}
