package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"

	"github.com/tugdev/tug/internal/proxy"
)

// ListenTLS serves the TCP API over TLS (1.2 and later), with exactly one
// of: a certificate and key (files), tug's local CA (a certificate for
// localhost and the loopback address listened on), or ACME for ACMEHost
// with tug.yaml's proxy.tls.acme settings. ACME's HTTP-01 challenge for
// the API's name is answered by the proxy's http listener, which shares
// the certificates directory (certmagic solves challenges through it),
// so the API needs no port 80 of its own.
type ListenTLS struct {
	CertFile, KeyFile string
	LocalCA           bool
	ACMEHost          string
}

// ErrListenTLS wraps every reason the API's TLS cannot be set up.
var ErrListenTLS = errors.New("the API's TLS")

// listenTLS wraps the TCP API listener in TLS as Options.ListenTLS says,
// and exports its certificate's expiry as tug_cert_expiry_timestamp_seconds
// {listener="api"} for the default alert.
func (d *daemon) listenTLS(ln net.Listener) (net.Listener, error) {
	lt := d.o.ListenTLS
	if lt == nil {
		return ln, nil
	}
	o := proxy.TLSOptions{
		CertFile: lt.CertFile, KeyFile: lt.KeyFile, LocalCA: lt.LocalCA,
		Dir: proxy.CertsDir(d.o.StateDir), Logger: d.log, Now: d.o.Now,
	}
	if lt.ACMEHost != "" {
		p := d.cfg.Proxy
		if p == nil || p.TLS == nil || p.TLS.ACME == nil {
			return nil, fmt.Errorf("%w: ACME for %s needs tug.yaml's proxy.tls.acme (the proxy answers the CA's challenges)", ErrListenTLS, lt.ACMEHost)
		}
		a := p.TLS.ACME
		o.ACME = &proxy.ACMEOptions{Email: a.Email, CA: a.CA, Challenge: "http-01"}
		if a.CARoot != "" {
			o.ACME.RootsFile = absFrom(filepath.Dir(d.o.ConfigPath), a.CARoot)
		}
	}
	certs, err := proxy.NewCerts(o)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrListenTLS, err)
	}
	if o.ACME != nil {
		httpAddr, err := net.ResolveTCPAddr("tcp", d.httpAddr)
		if err != nil {
			return nil, fmt.Errorf("%w: the proxy's http listener %s: %w", ErrListenTLS, d.httpAddr, err)
		}
		ctx, stop := context.WithCancel(context.Background())
		d.later(func() { stop(); certs.Stop() })
		if err := certs.StartACME(ctx, httpAddr, nil); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrListenTLS, err)
		}
		certs.Manage([]string{lt.ACMEHost})
	}
	if ca := certs.LocalCA(); ca != nil && lt.LocalCA {
		d.log.Info("the API serves a certificate of tug's local CA; "+ca.TrustHint()+
			"\n  the tug CLI: SSL_CERT_FILE="+ca.CertFile()+" tug --server https://localhost:PORT ...", "ca", ca.CertFile())
	}
	if err := d.o.Registry.Register(proxy.NewCertCollector("api", certs.Status)); err != nil {
		return nil, fmt.Errorf("%w: metrics: %w", ErrListenTLS, err)
	}
	d.apiCerts = certs
	cfg := certs.TLSConfig()
	cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	return tls.NewListener(ln, cfg), nil
}
