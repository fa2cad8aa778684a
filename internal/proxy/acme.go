package proxy

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ACMEOptions get certificates from an ACME CA (certmagic). The proxy
// runs ACME itself, not the server: it answers the CA's challenges on its
// own listeners, keeps account, keys and certificates on disk in the
// certificates directory, and renews while the server is down.
type ACMEOptions struct {
	// Email is the account's contact (optional).
	Email string
	// CA is the directory URL; "" is Let's Encrypt's production CA.
	CA string
	// RootsFile is a PEM file of roots to trust for the CA's HTTPS (a
	// private ACME server); "" uses the system's.
	RootsFile string
	// Challenge is "http-01", "tls-alpn-01" or "" for both.
	Challenge string

	// RenewCheckInterval, RenewalWindowRatio and DisableARI tune renewal:
	// how often certificates are checked (default 10 minutes), the share
	// of a certificate's life before expiry when renewal starts (default a
	// third), and whether the CA's renewal information is asked. Tests
	// shorten them; users keep the defaults.
	RenewCheckInterval time.Duration
	RenewalWindowRatio float64
	DisableARI         bool
}

// acmeManager obtains and renews certificates for the hosts of the
// routing table.
type acmeManager struct {
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
	cache  *certmagic.Cache
	log    *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // set by start; hosts wait for it
	managed map[string]bool
	pending []string
}

// newACMEManager prepares ACME with storage under dir; challenges are
// answered on the listeners at httpAddr and tlsAddr (the proxy's own,
// already bound, so certmagic starts no listener of its own).
func newACMEManager(o *ACMEOptions, dir string, httpAddr, tlsAddr net.Addr, log *slog.Logger) (*acmeManager, error) {
	zl := zap.New(&slogCore{h: log.Handler()})
	m := &acmeManager{log: log, managed: map[string]bool{}}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		RenewCheckInterval: o.RenewCheckInterval,
		Logger:             zl,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage:            &certmagic.FileStorage{Path: filepath.Join(dir, "acme")},
		RenewalWindowRatio: o.RenewalWindowRatio,
		DisableARI:         o.DisableARI,
		OCSP:               certmagic.OCSPConfig{DisableStapling: true},
		Logger:             zl,
	})
	tmpl := certmagic.ACMEIssuer{
		CA:                      o.CA,
		Email:                   o.Email,
		Agreed:                  true,
		DisableHTTPChallenge:    o.Challenge == "tls-alpn-01" || httpAddr == nil,
		DisableTLSALPNChallenge: o.Challenge == "http-01" || tlsAddr == nil,
		Logger:                  zl,
	}
	if tmpl.CA == "" {
		tmpl.CA = certmagic.LetsEncryptProductionCA
	}
	if a, ok := httpAddr.(*net.TCPAddr); ok {
		tmpl.ListenHost, tmpl.AltHTTPPort = listenHost(a), a.Port
	}
	if a, ok := tlsAddr.(*net.TCPAddr); ok {
		tmpl.ListenHost, tmpl.AltTLSALPNPort = listenHost(a), a.Port
	}
	if o.RootsFile != "" {
		pem, err := os.ReadFile(o.RootsFile)
		if err != nil {
			return nil, fmt.Errorf("acme: CA roots: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme: CA roots %s: no PEM certificate", o.RootsFile)
		}
		tmpl.TrustedRoots = pool
	}
	m.issuer = certmagic.NewACMEIssuer(m.cfg, tmpl)
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// listenHost is the host certmagic tries to bind for a challenge: the
// proxy's own address, so the bind fails as "in use" and the challenge is
// answered by the proxy's listener.
func listenHost(a *net.TCPAddr) string {
	if a.IP == nil || a.IP.IsUnspecified() {
		return ""
	}
	return a.IP.String()
}

// start lets certificates be obtained from now on, under ctx (the
// proxy's life), beginning with the hosts asked for before.
func (m *acmeManager) start(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	pending := m.pending
	m.pending = nil
	m.mu.Unlock()
	m.manage(pending)
}

// manage obtains (in the background) certificates for the hosts not yet
// managed, loading those already in storage; renewal then keeps them.
func (m *acmeManager) manage(hosts []string) {
	m.mu.Lock()
	var fresh []string
	for _, h := range hosts {
		if !m.managed[h] {
			m.managed[h] = true
			fresh = append(fresh, h)
		}
	}
	ctx := m.ctx
	if ctx == nil {
		m.pending = append(m.pending, fresh...)
		for _, h := range fresh {
			delete(m.managed, h)
		}
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	slices.Sort(fresh)
	m.log.Info("acme: managing certificates", "hosts", fresh, "ca", m.issuer.CA)
	if err := m.cfg.ManageAsync(ctx, fresh); err != nil {
		m.log.Error("acme: cannot manage certificates", "hosts", fresh, "err", err)
	}
}

// hosts lists the managed hosts.
func (m *acmeManager) hosts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for h := range m.managed {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// leaf is the newest certificate in use for host, nil if none yet.
func (m *acmeManager) leaf(host string) *x509.Certificate {
	var best *x509.Certificate
	for _, c := range m.cache.AllMatchingCertificates(host) {
		if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.NotAfter)) {
			best = c.Leaf
		}
	}
	return best
}

// handleHTTPChallenge answers an HTTP-01 challenge request; false for any
// other request.
func (m *acmeManager) handleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return m.issuer.HandleHTTPChallenge(w, r)
}

func (m *acmeManager) stop() { m.cache.Stop() }

// slogCore sends certmagic's zap logs to the proxy's slog logger.
type slogCore struct {
	h slog.Handler
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h.WithAttrs(attrsOf(fs))}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	msg := e.Message
	if e.LoggerName != "" {
		msg = e.LoggerName + ": " + msg
	}
	r := slog.NewRecord(e.Time, slogLevel(e.Level), "acme: "+msg, 0)
	r.AddAttrs(attrsOf(fs)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func attrsOf(fs []zapcore.Field) []slog.Attr {
	if len(fs) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fs {
		f.AddTo(enc)
	}
	out := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		out = append(out, slog.Any(k, v))
	}
	slices.SortFunc(out, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return out
}
