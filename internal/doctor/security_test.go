package doctor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// writeCert writes a self-signed certificate for name valid until notAfter.
func writeCert(t *testing.T, path, name string, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: now.Add(-24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func find(r Report, check, subject string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Check == check && strings.Contains(r.Findings[i].Subject, subject) {
			return &r.Findings[i]
		}
	}
	return nil
}

// TestSecurityFindings sets up each exposure the checks look for, and
// one safe counterpart of each, and expects a finding with its severity
// for every exposure and none for the safe ones.
func TestSecurityFindings(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	state := filepath.Join(repo, ".tug")
	os.MkdirAll(filepath.Join(state, "releases", "r1"), 0o700)
	os.MkdirAll(filepath.Join(state, "audit"), 0o700)
	os.Chmod(state, 0o700)
	os.WriteFile(filepath.Join(state, "secrets.env"), []byte("DB=x\n"), 0o644) // the repository's local secrets file
	os.WriteFile(filepath.Join(state, "audit", "log.jsonl"), nil, 0o644)       // readable, behind a private directory
	os.WriteFile(filepath.Join(state, "releases", "r1", "app.go"), nil, 0o644) // code copies are not reported
	os.WriteFile(filepath.Join(state, "tokens.json"), nil, 0o600)
	writeCert(t, filepath.Join(repo, "expired.pem"), "old.example.com", now.Add(-time.Hour))
	writeCert(t, filepath.Join(repo, "soon.pem"), "soon.example.com", now.Add(7*24*time.Hour))
	writeCert(t, filepath.Join(repo, "month.pem"), "month.example.com", now.Add(20*24*time.Hour))
	writeCert(t, filepath.Join(repo, "fine.pem"), "fine.example.com", now.Add(90*24*time.Hour))
	exp := now.Add(24 * time.Hour)
	cfg, err := config.Parse("tug.yaml", []byte(`version: 1
project: p
services:
  web: {run: ./web, health: {path: /healthz}}
  worker: {run: ./worker}
environments:
  staging: {}
`), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{
		Config: cfg, ConfigDir: repo, StateDir: state, Server: true, Now: now,
		Listeners: []Listener{{Addr: "0.0.0.0:7070"}, {Addr: "127.0.0.1:7071"}, {Addr: "10.0.0.5:7072", TLS: true}, {Addr: "[::1]:7073", NoAuth: true}},
		Instances: []Exposure{
			{Instance: "web-staging-r1-1", Service: "web", Listening: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:41000")}},
			{Instance: "web-staging-r1-2", Service: "web", Listening: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:41001")}},
			{Instance: "worker-staging-r1-1", Service: "worker", Err: "cannot read"},
		},
		Tokens: []access.Token{
			{Name: "root", Role: endpoint.Admin},
			{Name: "ci", Role: endpoint.Deployer},
			{Name: "short", Role: endpoint.Admin, ExpiresAt: &exp},
			{Name: "gone", Role: endpoint.Admin, RevokedAt: &now},
		},
		Certificates: []Certificate{
			{Name: "a", Path: filepath.Join(repo, "expired.pem")}, {Name: "b", Path: filepath.Join(repo, "soon.pem")},
			{Name: "c", Path: filepath.Join(repo, "month.pem")}, {Name: "d", Path: filepath.Join(repo, "fine.pem")},
			{Name: "acme", Subject: "shop.example.com", NotAfter: now.Add(3 * 24 * time.Hour)},
			{Name: "files", Subject: "old.example.org", NotAfter: now.Add(-24 * time.Hour)},
		},
	}
	// The repository's secrets file sits at .tug/secrets.env, beside tug.yaml.
	r := Security(in)
	for _, w := range []struct {
		check, subject string
		sev            Severity
	}{
		{CheckListener, "0.0.0.0:7070", High},
		{CheckListener, "[::1]:7073", Medium},
		{CheckInstance, "web-staging-r1-1", High},
		{CheckInstance, "worker-staging-r1-1", Info},
		{CheckSecrets, "secrets.env", High},
		{CheckState, state, Low},
		{CheckTokens, "token root", Medium},
		{CheckTokens, "token ci", Low},
		{CheckCerts, "expired.pem", High},
		{CheckCerts, "soon.pem", Medium},
		{CheckCerts, "month.pem", Low},
		{CheckCerts, "acme shop.example.com", Medium},
		{CheckCerts, "files old.example.org", High},
		{CheckHealth, "service worker", Low},
	} {
		f := find(r, w.check, w.subject)
		if f == nil || f.Severity != w.sev || f.Message == "" {
			t.Errorf("%s %s: %+v, want %s", w.check, w.subject, f, w.sev)
		}
	}
	for _, none := range []struct{ check, subject string }{
		{CheckListener, "127.0.0.1:7071"}, {CheckListener, "10.0.0.5"}, {CheckInstance, "web-staging-r1-2"},
		{CheckTokens, "short"}, {CheckTokens, "gone"}, {CheckCerts, "fine.pem"}, {CheckHealth, "service web"},
	} {
		if f := find(r, none.check, none.subject); f != nil {
			t.Errorf("a finding about something safe: %+v", f)
		}
	}
	if st := find(r, CheckState, state); st == nil || !strings.Contains(st.Message, "audit/log.jsonl") || strings.Contains(st.Message, "releases") {
		t.Errorf("state files: %+v", st)
	}
	if !r.High() || r.Findings[0].Severity != High || r.Findings[len(r.Findings)-1].Severity == High {
		t.Errorf("not ordered most severe first, or High() wrong: %+v", r.Findings)
	}

	// The directory opened to others: high.
	os.Chmod(state, 0o755)
	defer os.Chmod(state, 0o700)
	r = Security(Inputs{StateDir: state, Now: now})
	if f := find(r, CheckState, state); f == nil || f.Severity != High || !slices.Contains(r.Checked, CheckState) {
		t.Errorf("an open state directory: %+v", r.Findings)
	}
	// Without a server: said, and the rest still checked.
	if f := find(r, CheckServer, ""); f == nil || f.Severity != Info {
		t.Errorf("no server: %+v", r.Findings)
	}
	if slices.Contains(r.Checked, CheckListener) {
		t.Error("listeners counted as checked without a server")
	}
}

// A safe installation has no finding above info.
func TestSecurityOfASafeInstallation(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	state := filepath.Join(repo, ".tug")
	os.Mkdir(state, 0o700)
	os.WriteFile(filepath.Join(state, "tug.db"), nil, 0o600)
	exp := now.Add(30 * 24 * time.Hour)
	r := Security(Inputs{ConfigDir: repo, StateDir: state, Server: true, Now: now,
		Listeners: []Listener{{Addr: "127.0.0.1:7070"}}, Tokens: []access.Token{{Name: "ci", Role: endpoint.Deployer, ExpiresAt: &exp}}})
	if len(r.Findings) != 0 || r.High() {
		t.Fatalf("%+v", r.Findings)
	}
}
