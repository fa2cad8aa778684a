package alert

import (
	"testing"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// TestCertificateExpiringSoonFires: the default rule selects a
// certificate 10 days from expiry and not one 30 days from it.
func TestCertificateExpiringSoonFires(t *testing.T) {
	t.Parallel()
	expr := TLSPack()[0].Expr
	promqltest.RunTest(t, `
load 1m
  tug_cert_expiry_timestamp_seconds{host="soon.example",listener="proxy",source="acme"} 864000
  tug_cert_expiry_timestamp_seconds{host="later.example",listener="proxy",source="acme"} 2592000

eval instant at 0m `+expr+`
  {host="soon.example",listener="proxy",source="acme"} 864000
`, promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
}
