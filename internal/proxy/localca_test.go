package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLocalCAServesLocalhostNamesOnly(t *testing.T) {
	t.Parallel()
	be := namedBackend(t, "b")
	dir := stateDir(t)
	p := startProxy(t, dir, func(o *Options) {
		o.HTTPSAddr = "127.0.0.1:0"
		o.LocalCA = true
	})
	p.apply(t, oneRoute(1, "web.localhost", mkPool("r1", 1, hostOf(be))))

	caFile := filepath.Join(CertsDir(dir), CACertName)
	for _, f := range []string{caFile, filepath.Join(CertsDir(dir), CAKeyName)} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want 0600", f, err, fi)
		}
	}
	pemBytes, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	get := func(serverName string) (*http.Response, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName}}}
		req, _ := http.NewRequest("GET", "https://"+p.srv.HTTPSAddr().String()+"/", nil)
		req.Host = "web.localhost"
		return c.Do(req)
	}
	resp, err := get("web.localhost")
	if err != nil {
		t.Fatalf("a client trusting the local CA: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "b" || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("%d %q over %x", resp.StatusCode, b, resp.TLS.Version)
	}
	// TLS 1.1 is refused.
	c11 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "web.localhost", MaxVersion: tls.VersionTLS11}}}
	if resp, err := c11.Get("https://" + p.srv.HTTPSAddr().String() + "/"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	// A public name gets no certificate from the local CA.
	if _, err := get("shop.example.com"); err == nil {
		t.Error("the local CA served a certificate for a public name")
	}
	// The proxy reports what it serves, with expiry, as status and metric.
	st, err := p.client.Certs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var sawLeaf, sawRoot bool
	for _, c := range st {
		sawLeaf = sawLeaf || c.Host == "web.localhost" && c.Source == "local_ca" && c.NotAfter.After(time.Now().Add(60*24*time.Hour))
		sawRoot = sawRoot || c.Source == "local_ca_root"
	}
	if !sawLeaf || !sawRoot {
		t.Errorf("cert status %+v", st)
	}
	text, _ := p.client.Metrics(t.Context())
	if !strings.Contains(string(text), `tug_cert_expiry_timestamp_seconds{host="web.localhost",listener="proxy",source="local_ca"}`) {
		t.Errorf("no expiry metric for the leaf:\n%s", text)
	}

	// A second opener (the server, or the proxy after a restart) gets the
	// same CA.
	ca, err := OpenLocalCA(CertsDir(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(ca.CertFile())
	if string(again) != string(pemBytes) {
		t.Error("the CA was made again")
	}
}

func TestLocalCANameConstraints(t *testing.T) {
	t.Parallel()
	ca, err := OpenLocalCA(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Leaf("example.com"); !errors.Is(err, ErrNotLocal) {
		t.Errorf("leaf for a public name: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	for _, host := range []string{"localhost", "a.b.localhost", "127.0.0.1", "::1"} {
		c, err := ca.Leaf(host)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if !ca.Certificate().PermittedDNSDomainsCritical || len(ca.Certificate().PermittedDNSDomains) != 1 {
		t.Error("the CA is not constrained to localhost names")
	}
}

func TestLocalCAHalfWritten(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := OpenLocalCA(dir, nil); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, CAKeyName)
	os.Rename(key, key+".bak")
	if _, err := OpenLocalCA(dir, nil); err == nil || !strings.Contains(err.Error(), "needs its key") {
		t.Fatalf("a CA certificate without its key: %v", err)
	}
	// A key without its certificate (a crash between the two writes) is
	// replaced by a new CA.
	os.Rename(key+".bak", key)
	os.Remove(filepath.Join(dir, CACertName))
	if _, err := OpenLocalCA(dir, nil); err != nil {
		t.Fatalf("a key without its certificate: %v", err)
	}
}
