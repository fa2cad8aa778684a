package config

// The edge keys of tug.yaml: what the proxy enforces per route (rate
// limits, body limits, response headers, HTTPS redirects and HSTS) and
// where its certificates come from (files, tug's local CA, or ACME).

// RateLimit is a token bucket per client at the proxy: each client may
// send Requests per Per on average, and Burst at once.
type RateLimit struct {
	// How many requests a client may send per `per` on average. Required
	// (at least 1). Example: `requests: 100`.
	Requests int `yaml:"requests" json:"requests"`
	// The period requests are counted over. Default: 1s. Example: `per:
	// 1m`.
	Per Duration `yaml:"per" json:"per,omitempty"`
	// How many requests a client may send at once before the rate applies.
	// Default: requests. Example: `burst: 200`.
	Burst int `yaml:"burst" json:"burst,omitempty"`
	// What a client is: client_ip (the connection's address) or
	// header:NAME (the value of a request header, such as an API key;
	// requests without it count by client_ip). Default: client_ip. Example:
	// `by: "header:X-Api-Key"`.
	By string `yaml:"by" json:"by,omitempty"`
}

// ServiceHTTPS says how a service's routes treat plain HTTP when the proxy
// serves HTTPS.
type ServiceHTTPS struct {
	// Answers plain HTTP requests with a permanent redirect (308) to the
	// same URL on HTTPS. Default: true when proxy.https is set. Example:
	// `redirect: false`.
	Redirect *bool `yaml:"redirect" json:"redirect,omitempty"`
	// Sends Strict-Transport-Security with this max-age on HTTPS answers,
	// so browsers use HTTPS only. Default: none. Example: `hsts: 365d`.
	HSTS Duration `yaml:"hsts" json:"hsts,omitempty"`
}

// ACME gets certificates automatically from an ACME certificate authority
// (Let's Encrypt by default) for the hosts of the routes; using it accepts
// the CA's terms of service.
type ACME struct {
	// The contact address the CA writes to about expiring certificates.
	// Default: none. Example: `email: ops@example.com`.
	Email string `yaml:"email" json:"email,omitempty"`
	// The ACME directory URL of the CA. Default: Let's Encrypt
	// (https://acme-v02.api.letsencrypt.org/directory). Example: `ca:
	// https://acme-staging-v02.api.letsencrypt.org/directory`.
	CA string `yaml:"ca" json:"ca,omitempty"`
	// A PEM file (relative to tug.yaml) of root certificates to trust for
	// the CA's own HTTPS, for a private ACME server. Default: the system's
	// roots. Example: `ca_root: certs/acme-root.pem`.
	CARoot string `yaml:"ca_root" json:"ca_root,omitempty"`
	// The challenge the CA checks: http-01 (the proxy's http listener must
	// be reachable on port 80) or tls-alpn-01 (its https listener on port
	// 443). Default: both, whichever the CA picks. Example: `challenge:
	// tls-alpn-01`.
	Challenge string `yaml:"challenge" json:"challenge,omitempty"`
}
