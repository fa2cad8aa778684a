package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TLSOptions say where a TLS listener's certificates come from: files
// (CertFile and KeyFile), tug's local CA, or ACME; exactly one. The
// listener accepts TLS 1.2 and later only.
type TLSOptions struct {
	CertFile, KeyFile string
	LocalCA           bool
	ACME              *ACMEOptions
	// Dir holds the local CA and ACME's storage (CertsDir of the state
	// directory).
	Dir    string
	Logger *slog.Logger
	Now    func() time.Time
}

// ErrTLSSource: not exactly one source of certificates was given.
var ErrTLSSource = errors.New("give exactly one of --tls-cert with --tls-key, --tls-local, or --acme")

// Check says whether o names exactly one source of certificates (and the
// certificate with its key).
func (o TLSOptions) Check() error {
	files := o.CertFile != "" || o.KeyFile != ""
	n := 0
	for _, b := range []bool{files, o.LocalCA, o.ACME != nil} {
		if b {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("tls: %w", ErrTLSSource)
	case files && (o.CertFile == "" || o.KeyFile == ""):
		return errors.New("tls: --tls-cert and --tls-key go together")
	}
	return nil
}

// CertStatus is one certificate a listener serves (or the local CA's
// own), for `tug doctor security`, metrics and alerts.
type CertStatus struct {
	// Host is the name the certificate is served for ("" for the CA).
	Host string `json:"host"`
	// Source is files, local_ca, local_ca_root or acme.
	Source   string    `json:"source"`
	NotAfter time.Time `json:"not_after"`
	Issuer   string    `json:"issuer"`
}

// Certs is a TLS listener's certificates. Build it with NewCerts, give
// TLSConfig to the listener; for ACME, call Start once the listeners are
// bound and Manage with the hosts to serve. Safe for concurrent use.
type Certs struct {
	files    *tls.Certificate
	ca       *LocalCA
	acme     *acmeManager
	log      *slog.Logger
	acmeOpts *ACMEOptions
	dir      string
}

// NewCerts loads the files, or opens (making if needed) the local CA. ACME
// needs the listeners: see StartACME. With ACME the local CA serves
// localhost names, which no public CA certifies.
func NewCerts(o TLSOptions) (*Certs, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := o.Check(); err != nil {
		return nil, err
	}
	c := &Certs{log: o.Logger, acmeOpts: o.ACME, dir: o.Dir}
	switch {
	case o.CertFile != "" || o.KeyFile != "":
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.files = &pair
	default:
		ca, err := OpenLocalCA(o.Dir, o.Now)
		if err != nil {
			return nil, err
		}
		c.ca = ca
	}
	return c, nil
}

// StartACME begins obtaining certificates by ACME under ctx, answering
// the CA's challenges on the listeners at httpAddr and tlsAddr (nil:
// that challenge is not offered). A no-op without ACME.
func (c *Certs) StartACME(ctx context.Context, httpAddr, tlsAddr net.Addr) error {
	if c.acmeOpts == nil {
		return nil
	}
	m, err := newACMEManager(c.acmeOpts, c.dir, httpAddr, tlsAddr, c.log)
	if err != nil {
		return err
	}
	c.acme = m
	m.start(ctx)
	return nil
}

// Stop ends ACME's renewals.
func (c *Certs) Stop() {
	if c.acme != nil {
		c.acme.stop()
	}
}

// LocalCA is the local CA in use, or nil.
func (c *Certs) LocalCA() *LocalCA { return c.ca }

// Manage asks for certificates of hosts by ACME (localhost names are the
// local CA's); a no-op for files and the local CA, which make theirs on
// demand.
func (c *Certs) Manage(hosts []string) {
	if c.acme == nil {
		return
	}
	var public []string
	for _, h := range hosts {
		if !LocalName(h) && net.ParseIP(h) == nil {
			public = append(public, h)
		}
	}
	c.acme.manage(public)
}

// TLSConfig is the listener's configuration: TLS 1.2 at least, the
// certificate chosen by the client's server name.
func (c *Certs) TLSConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.getCertificate}
	if c.acmeOpts != nil {
		// TLS-ALPN-01: the CA asks for this protocol; certmagic answers.
		cfg.NextProtos = []string{"acme-tls/1"}
	}
	return cfg
}

func (c *Certs) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c.files != nil {
		return c.files, nil
	}
	host := strings.ToLower(hello.ServerName)
	if c.acme != nil && (slices.Contains(hello.SupportedProtos, "acme-tls/1") || (host != "" && !LocalName(host))) {
		return c.acme.cfg.GetCertificate(hello)
	}
	if host == "" {
		// No SNI (a client that dialled an address): the loopback
		// address it most likely used.
		host = "localhost"
		if a, ok := connLocalAddr(hello).(*net.TCPAddr); ok && a.IP.IsLoopback() {
			host = a.IP.String()
		}
	}
	return c.ca.Leaf(host)
}

// HTTPChallenge wraps the plain HTTP handler so it answers ACME's HTTP-01
// challenges first; h itself without ACME.
func (c *Certs) HTTPChallenge(h http.Handler) http.Handler {
	if c.acmeOpts == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") && c.acme != nil && c.acme.handleHTTPChallenge(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Status lists the certificates in use with their expiry: the files', the
// local CA's and the leaves it made, ACME's per managed host.
func (c *Certs) Status() []CertStatus {
	var out []CertStatus
	add := func(host, source string, cert *x509.Certificate) {
		if cert != nil {
			out = append(out, CertStatus{Host: host, Source: source, NotAfter: cert.NotAfter, Issuer: cert.Issuer.CommonName})
		}
	}
	if c.files != nil {
		leaf := c.files.Leaf
		if leaf == nil && len(c.files.Certificate) > 0 {
			leaf, _ = x509.ParseCertificate(c.files.Certificate[0])
		}
		if leaf != nil {
			host := leaf.Subject.CommonName
			if len(leaf.DNSNames) > 0 {
				host = leaf.DNSNames[0]
			}
			add(host, "files", leaf)
		}
	}
	if c.ca != nil {
		add("", "local_ca_root", c.ca.Certificate())
		for _, l := range c.ca.madeLeaves() {
			host := l.Subject.CommonName
			add(host, "local_ca", l)
		}
	}
	if c.acme != nil {
		for _, h := range c.acme.hosts() {
			add(h, "acme", c.acme.leaf(h))
		}
	}
	slices.SortFunc(out, func(a, b CertStatus) int {
		if d := strings.Compare(a.Source, b.Source); d != 0 {
			return d
		}
		return strings.Compare(a.Host, b.Host)
	})
	return out
}

// CertExpiryMetric is the gauge of every certificate's expiry; the
// default alert CertificateExpiringSoon reads it.
const CertExpiryMetric = "tug_cert_expiry_timestamp_seconds"

// certCollector exposes Status as tug_cert_expiry_timestamp_seconds.
type certCollector struct {
	desc   *prometheus.Desc
	status func() []CertStatus
}

// NewCertCollector is a Prometheus collector of the expiry of the
// certificates status lists (labels host and source), for the proxy's
// and the server's registries.
func NewCertCollector(listener string, status func() []CertStatus) prometheus.Collector {
	return &certCollector{
		desc: prometheus.NewDesc(CertExpiryMetric, "When a certificate in use expires (Unix seconds), by host and source.",
			[]string{"host", "source"}, prometheus.Labels{"listener": listener}),
		status: status,
	}
}

func (cc *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cc.desc }

func (cc *certCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range cc.status() {
		ch <- prometheus.MustNewConstMetric(cc.desc, prometheus.GaugeValue, float64(s.NotAfter.Unix()), s.Host, s.Source)
	}
}

// openCerts prepares the https listener's certificates and their expiry
// metric; the local CA tells how to trust it.
func (s *Server) openCerts() error {
	c, err := NewCerts(TLSOptions{
		CertFile: s.opts.TLSCertFile, KeyFile: s.opts.TLSKeyFile, LocalCA: s.opts.LocalCA, ACME: s.opts.ACME,
		Dir: CertsDir(s.opts.StateDir), Logger: s.log, Now: s.now,
	})
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	if ca := c.LocalCA(); ca != nil && s.opts.LocalCA {
		s.log.Info("proxy: serving certificates of tug's local CA; "+ca.TrustHint(), "ca", ca.CertFile())
	}
	if err := s.metrics.reg.Register(NewCertCollector("proxy", c.Status)); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	s.certs = c
	return nil
}

// startACME starts ACME on the bound listeners for the hosts of the table
// in force (later tables add theirs as they come).
func (s *Server) startACME(ctx context.Context) error {
	var httpAddr net.Addr
	if s.httpLn != nil {
		httpAddr = s.httpLn.Addr()
	}
	if err := s.certs.StartACME(ctx, httpAddr, s.httpsLn.Addr()); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	s.certs.Manage(s.routing.Load().hosts())
	return nil
}

// certStatus is GET /certs: nothing without an https listener.
func (s *Server) certStatus() []CertStatus {
	if s.certs == nil {
		return []CertStatus{}
	}
	return s.certs.Status()
}

// hosts lists the routing's host names.
func (rt *routing) hosts() []string {
	out := make([]string, 0, len(rt.byHost))
	for h := range rt.byHost {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

func connLocalAddr(hello *tls.ClientHelloInfo) net.Addr {
	if hello.Conn == nil {
		return nil
	}
	return hello.Conn.LocalAddr()
}

// StoredCertificates reads the certificates kept in the certificates
// directory of stateDir without a running proxy: the local CA's own and
// every ACME certificate (for `tug doctor security`, which must judge
// expiry while the proxy is down too). A missing directory is no error.
func StoredCertificates(stateDir string) ([]CertStatus, error) {
	dir := CertsDir(stateDir)
	var out []CertStatus
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		source := ""
		switch {
		case d.IsDir():
			return nil
		case path == filepath.Join(dir, CACertName):
			source = "local_ca_root"
		case strings.HasSuffix(path, ".crt") && strings.HasPrefix(path, filepath.Join(dir, "acme")+string(filepath.Separator)):
			source = "acme"
		default:
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return fmt.Errorf("%s: no PEM certificate", path)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		host := ""
		if source == "acme" {
			host = c.Subject.CommonName
			if len(c.DNSNames) > 0 {
				host = c.DNSNames[0]
			}
		}
		out = append(out, CertStatus{Host: host, Source: source, NotAfter: c.NotAfter, Issuer: c.Issuer.CommonName})
		return nil
	})
	return out, err
}
