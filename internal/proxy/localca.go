package proxy

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/kit"
)

// The local CA's files in the certificates directory (<state>/certs).
const (
	CertsDirName = "certs"
	CACertName   = "ca.pem"
	CAKeyName    = "ca-key.pem"
)

// CertsDir is where the proxy and the server keep certificates: the local
// CA and ACME's account, certificates and keys.
func CertsDir(stateDir string) string { return filepath.Join(stateDir, CertsDirName) }

// Lifetimes of the local CA and of the certificates it makes. A leaf is
// made again, in memory, once less than a third of its life is left.
const (
	localCALifetime   = 10 * 365 * 24 * time.Hour
	localLeafLifetime = 90 * 24 * time.Hour
)

// ErrNotLocal: the local CA signs only localhost names and loopback
// addresses (its name constraints say so, so trusting it is safe).
var ErrNotLocal = errors.New("the local CA signs localhost names and loopback addresses only")

// LocalCA is tug's own certificate authority for development: a key and
// certificate kept 0600 in the certificates directory, made on first use,
// constrained to localhost names (localhost, *.localhost) and loopback
// addresses, so a browser that trusts it trusts nothing else it could
// sign. It makes a leaf certificate per host on demand. Safe for
// concurrent use.
type LocalCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	file    string
	now     func() time.Time

	mu     sync.Mutex
	leaves map[string]*tls.Certificate
}

// OpenLocalCA loads the local CA of dir, or makes it when there is none;
// concurrent processes (proxy and server) agree on one through a lock.
func OpenLocalCA(dir string, now func() time.Time) (*LocalCA, error) {
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lock, err := kit.LockFile(ctx, filepath.Join(dir, "ca.lock"), true)
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	defer lock.Unlock()
	certFile, keyFile := filepath.Join(dir, CACertName), filepath.Join(dir, CAKeyName)
	certPEM, cerr := os.ReadFile(certFile)
	keyPEM, kerr := os.ReadFile(keyFile)
	switch {
	case cerr == nil && kerr == nil:
	case errors.Is(cerr, os.ErrNotExist) && (kerr == nil || errors.Is(kerr, os.ErrNotExist)):
		if certPEM, keyPEM, err = newLocalCA(now()); err != nil {
			return nil, err
		}
		// The key first: a crash between the two leaves a key without its
		// certificate, which the next start replaces; a certificate
		// without its key (which someone may trust) is refused instead.
		if err := kit.WriteFile(keyFile, keyPEM, 0o600); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
		if err := kit.WriteFile(certFile, certPEM, 0o600); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
	default:
		return nil, fmt.Errorf("local CA: %s needs its key %s (remove both to make a new CA, and trust the new one): %w", certFile, keyFile, errors.Join(cerr, kerr))
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("local CA %s: %w", certFile, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok || pair.Leaf == nil {
		return nil, fmt.Errorf("local CA %s: unusable key", certFile)
	}
	return &LocalCA{cert: pair.Leaf, key: signer, certPEM: certPEM, file: certFile, now: now, leaves: map[string]*tls.Certificate{}}, nil
}

func newLocalCA(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"tug local CA"}, CommonName: "tug local CA " + host},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(localCALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		// Only localhost names and loopback addresses: trusting this CA
		// lets it vouch for nothing on the network.
		PermittedDNSDomainsCritical: true,
		PermittedDNSDomains:         []string{"localhost"},
		PermittedIPRanges: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// LocalName says whether host is one the local CA signs: localhost, a
// name under .localhost, or a loopback address.
func LocalName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// CertFile is the CA certificate users add to their trust stores.
func (ca *LocalCA) CertFile() string { return ca.file }

// Certificate is the CA's own certificate.
func (ca *LocalCA) Certificate() *x509.Certificate { return ca.cert }

// Fingerprint is the SHA-256 of the CA certificate, for checking what was
// trusted.
func (ca *LocalCA) Fingerprint() string {
	sum := sha256.Sum256(ca.cert.Raw)
	return hex.EncodeToString(sum[:])
}

// Leaf returns a certificate for host signed by the CA, made now or
// earlier in this process and still within two thirds of its life.
func (ca *LocalCA) Leaf(host string) (*tls.Certificate, error) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if !LocalName(host) {
		return nil, fmt.Errorf("%w: %q", ErrNotLocal, host)
	}
	now := ca.now()
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c := ca.leaves[host]; c != nil && now.Before(c.Leaf.NotAfter.Add(-localLeafLifetime/3)) {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"tug local CA"}, CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(localLeafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}
	ca.leaves[host] = c
	return c, nil
}

// leaves lists the certificates made so far, for expiry reports.
func (ca *LocalCA) madeLeaves() []*x509.Certificate {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	out := make([]*x509.Certificate, 0, len(ca.leaves))
	for _, c := range ca.leaves {
		out = append(out, c.Leaf)
	}
	return out
}

// TrustHint tells a user how to trust the CA: the system store on Debian
// and Ubuntu, macOS's keychain, or one command's flag.
func (ca *LocalCA) TrustHint() string {
	f := ca.file
	return "trust tug's local CA (" + f + ", SHA-256 " + ca.Fingerprint() + ") once:\n" +
		"  Debian/Ubuntu: sudo cp " + f + " /usr/local/share/ca-certificates/tug-local-ca.crt && sudo update-ca-certificates\n" +
		"  macOS:         sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain " + f + "\n" +
		"  one command:   curl --cacert " + f + " https://web.localhost:8443/\n" +
		"  Firefox keeps its own store: Settings > Privacy & Security > Certificates > Import."
}
