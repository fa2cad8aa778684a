package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"

	"github.com/tugdev/tug/internal/testkit"
)

// pebbleCA is Let's Encrypt's test CA (pebble) run in this process.
type pebbleCA struct {
	directory string         // the ACME directory URL
	apiRoots  string         // PEM file: the root of the directory's own HTTPS
	issuing   *x509.CertPool // the root the certificates it issues chain to
}

// startPebble runs pebble whose validation authority dials challenges on
// loopback at httpPort (HTTP-01) and tlsPort (TLS-ALPN-01), resolving
// names through dnsAddr; certificates live validity.
func startPebble(t *testing.T, httpPort, tlsPort int, dnsAddr string, validity time.Duration) *pebbleCA {
	t.Helper()
	var logger *log.Logger
	if os.Getenv("TUG_TEST_LOG") != "" {
		logger = log.New(os.Stderr, "pebble ", log.LstdFlags)
	} else {
		logger = log.New(io.Discard, "", 0)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test", ValidityPeriod: uint64(validity / time.Second)},
	})
	vauth := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	front := wfe.New(logger, store, vauth, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	rootsFile := filepath.Join(t.TempDir(), "pebble-api.pem")
	os.WriteFile(rootsFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	issuing := x509.NewCertPool()
	issuing.AddCert(authority.GetRootCert(0).Cert)
	return &pebbleCA{directory: srv.URL + wfe.DirectoryPath, apiRoots: rootsFile, issuing: issuing}
}

// startLoopbackDNS answers every A question with 127.0.0.1 (and AAAA with
// nothing), over TCP as pebble asks: the names a test certifies resolve
// to the proxy under test.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return ln.Addr().String()
}

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestACMEIssuanceAndRenewalAgainstPebble: the proxy gets a certificate
// for a route's host from pebble (which validates the challenge against
// the proxy's own listener on loopback), serves it to a client that
// trusts pebble's root, keeps it on disk, and renews it before it
// expires. Both challenges the proxy answers are exercised.
func TestACMEIssuanceAndRenewalAgainstPebble(t *testing.T) {
	t.Setenv("PEBBLE_VA_NOSLEEP", "1") // pebble reads it when built
	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			httpLn, httpsLn := listenLoopback(t), listenLoopback(t)
			pb := startPebble(t, httpLn.Addr().(*net.TCPAddr).Port, httpsLn.Addr().(*net.TCPAddr).Port, startLoopbackDNS(t), 20*time.Second)
			be := namedBackend(t, "shop")
			dir := stateDir(t)
			p := startProxy(t, dir, func(o *Options) {
				o.HTTPAddr, o.HTTPListener = "", httpLn
				o.HTTPSListener = httpsLn
				o.ACME = &ACMEOptions{
					CA: pb.directory, RootsFile: pb.apiRoots, Email: "ops@shop.test", Challenge: challenge,
					// A 20s certificate enters renewal after 5s.
					RenewCheckInterval: 250 * time.Millisecond, RenewalWindowRatio: 0.75, DisableARI: true,
				}
			})
			p.apply(t, oneRoute(1, "shop.test", mkPool("r1", 1, hostOf(be))))

			client := &http.Client{Transport: &http.Transport{
				TLSClientConfig:   &tls.Config{RootCAs: pb.issuing, ServerName: "shop.test"},
				DisableKeepAlives: true,
			}}
			served := func() *x509.Certificate {
				req, _ := http.NewRequest("GET", "https://"+httpsLn.Addr().String()+"/", nil)
				req.Host = "shop.test"
				resp, err := client.Do(req)
				if err != nil {
					return nil
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 || string(b) != "shop" {
					return nil
				}
				return resp.TLS.PeerCertificates[0]
			}
			var first *x509.Certificate
			testkit.Eventually(t, 60*time.Second, "the proxy serves pebble's certificate for shop.test", func() bool {
				first = served()
				return first != nil
			})
			if first.DNSNames[0] != "shop.test" {
				t.Fatalf("served a certificate for %v", first.DNSNames)
			}
			// On disk, where a restarted proxy finds it without the server.
			found := false
			filepath.Walk(filepath.Join(CertsDir(dir), "acme"), func(path string, _ os.FileInfo, _ error) error {
				found = found || strings.HasSuffix(path, "shop.test.crt")
				return nil
			})
			if !found {
				t.Error("no certificate for shop.test under the certificates directory")
			}
			testkit.Eventually(t, 60*time.Second, "a renewed certificate is served before the first expires", func() bool {
				c := served()
				return c != nil && c.SerialNumber.Cmp(first.SerialNumber) != 0 && time.Now().Before(first.NotAfter)
			})
			if challenge == "http-01" {
				apiCertificateThroughTheProxy(t, pb, dir, httpLn.Addr())
			}
			// Without a running proxy, the stored certificates tell expiry.
			stored, err := StoredCertificates(dir)
			if err != nil {
				t.Fatal(err)
			}
			var storedShop bool
			for _, c := range stored {
				storedShop = storedShop || c.Host == "shop.test" && c.Source == "acme" && !c.NotAfter.Before(first.NotAfter)
			}
			if !storedShop {
				t.Errorf("stored certificates: %+v", stored)
			}
			st, err := p.client.Certs(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var saw bool
			for _, c := range st {
				saw = saw || c.Host == "shop.test" && c.Source == "acme" && c.NotAfter.After(first.NotAfter)
			}
			if !saw {
				t.Errorf("status does not show the renewed certificate: %+v", st)
			}
		})
	}
}

// apiCertificateThroughTheProxy: the server's API listener gets its own
// ACME certificate with the same certificates directory, the CA's HTTP-01
// challenge answered by the proxy's http listener (certmagic shares the
// challenge through the directory; here both are in one process).
func apiCertificateThroughTheProxy(t *testing.T, pb *pebbleCA, dir string, proxyHTTP net.Addr) {
	t.Helper()
	api, err := NewCerts(TLSOptions{Dir: CertsDir(dir), Logger: testLogger(t),
		ACME: &ACMEOptions{CA: pb.directory, RootsFile: pb.apiRoots, Challenge: "http-01"}})
	if err != nil {
		t.Fatal(err)
	}
	defer api.Stop()
	if err := api.StartACME(t.Context(), proxyHTTP, nil); err != nil {
		t.Fatal(err)
	}
	api.Manage([]string{"api.shop.test"})
	ln := tls.NewListener(listenLoopback(t), api.TLSConfig())
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	testkit.Eventually(t, 60*time.Second, "a certificate for the API's name", func() bool {
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pb.issuing, ServerName: "api.shop.test"})
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}
