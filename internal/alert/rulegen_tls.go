package alert

import (
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// CertExpiryWarning is how long before a certificate expires that
// CertificateExpiringSoon fires. ACME renews at a third of the life left
// (30 days of Let's Encrypt's 90), so firing means renewal has failed for
// two weeks or more.
const CertExpiryWarning = 14 * 24 * time.Hour

// TLSPack is the default alert of certificates: one the proxy or the API
// serves (tug_cert_expiry_timestamp_seconds) expires within
// CertExpiryWarning.
func TLSPack() []rulefmt.Rule {
	return []rulefmt.Rule{{
		Alert:  "CertificateExpiringSoon",
		Expr:   "tug_cert_expiry_timestamp_seconds - time() < " + strconv.FormatInt(int64(CertExpiryWarning/time.Second), 10),
		For:    model.Duration(10 * time.Minute),
		Labels: map[string]string{LabelSeverity: "P1"},
		Annotations: map[string]string{
			"summary":     "{{ $labels.host }} ({{ $labels.listener }}, {{ $labels.source }}): the certificate expires in {{ $value | humanizeDuration }}",
			"description": "A certificate tug serves expires within 14 days and has not been renewed: see the proxy's log (.tug/proxy/proxy.log) for ACME errors, or replace the certificate files.",
		},
	}}
}
