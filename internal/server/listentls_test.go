package server

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tugdev/tug/internal/proxy"
)

// TestAPIListenerServesTLSFromTheLocalCA: with --tls-local the TCP API
// answers only over TLS 1.2+, with a certificate of the state directory's
// local CA for the loopback address, and exports its expiry.
func TestAPIListenerServesTLSFromTheLocalCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, ".tug")
	stopProxyAfter(t, state)
	reg := prometheus.NewRegistry()
	srv := startServer(t, Options{ConfigPath: writeConfig(t, dir, minimalYAML), StateDir: state, ProxyCommand: fakeProxyArgv(t),
		ListenAddr: "127.0.0.1:0", InsecureNoAuth: true, ListenTLS: &ListenTLS{LocalCA: true}, Registry: reg, Debounce: 20 * time.Millisecond})
	defer srv.stop(t)
	if !srv.info.ListenTLS {
		t.Error("Info does not say the API is on TLS")
	}

	pemBytes, err := os.ReadFile(filepath.Join(proxy.CertsDir(state), proxy.CACertName))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: maxVersion}}}
	}
	resp, err := client(0).Get("https://" + srv.info.Listen + "/api/health")
	if err != nil {
		t.Fatalf("a client trusting the local CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("health over TLS: %d", resp.StatusCode)
	}
	if resp, err := client(tls.VersionTLS11).Get("https://" + srv.info.Listen + "/api/health"); err == nil {
		resp.Body.Close()
		t.Error("a TLS 1.1 client was served")
	}
	if resp, err := http.Get("http://" + srv.info.Listen + "/api/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS listener")
		}
	}
	if !strings.Contains(srv.logs.String(), "update-ca-certificates") {
		t.Errorf("the log does not say how to trust the local CA:\n%s", srv.logs)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range fams {
		if f.GetName() != proxy.CertExpiryMetric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == "host" && l.GetValue() == "127.0.0.1"
			}
			if m.GetGauge().GetValue() < float64(time.Now().Add(60*24*time.Hour).Unix()) {
				t.Errorf("expiry %v too soon", m.GetGauge().GetValue())
			}
		}
	}
	if !found {
		t.Errorf("no %s{listener=api,host=127.0.0.1} in the server's metrics", proxy.CertExpiryMetric)
	}
}
