// Package doctor checks how exposed a tug installation is (`tug doctor
// security`): which listeners take whom and how, what lies in clear on
// disk and who can read it, which credentials never end, which
// certificates are about to, and which services run without a health
// check. Each finding has a severity; high ones make the command fail.
// The server runs the checks with everything it knows (its listeners,
// the instances' sockets); without a server the CLI runs them on the
// files alone.
package doctor

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/secret"
)

// Severity ranks a finding.
type Severity string

// Severities, most urgent first.
const (
	High   Severity = "high"
	Medium Severity = "medium"
	Low    Severity = "low"
	Info   Severity = "info"
)

func (s Severity) rank() int { return slices.Index([]Severity{High, Medium, Low, Info}, s) }

// Checks, as findings name them.
const (
	CheckListener  = "api_listener"
	CheckInstance  = "instance_listener"
	CheckSecrets   = "plaintext_secrets"
	CheckState     = "state_files"
	CheckTokens    = "token_expiry"
	CheckCerts     = "certificate_expiry"
	CheckHealth    = "health_check"
	CheckServer    = "server"
	certWarnWithin = 14 * 24 * time.Hour
	certNoteWithin = 30 * 24 * time.Hour
)

// Finding is one thing to look at.
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	// Subject is what the finding is about: an address, a file, a token,
	// a service.
	Subject string `json:"subject"`
	Message string `json:"message"`
	// Fix says what to do about it.
	Fix string `json:"fix,omitempty"`
}

// Report is the outcome of the checks, most severe first.
type Report struct {
	Findings []Finding `json:"findings"`
	// Checked names the checks that ran (a check that finds nothing is
	// still listed).
	Checked []string `json:"checked"`
}

// High says whether any finding is of high severity.
func (r *Report) High() bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Severity == High })
}

// Listener is a TCP listener of the API, as the server serves it.
type Listener struct {
	Addr string `json:"addr"`
	TLS  bool   `json:"tls"`
	// NoAuth: served with --insecure-no-auth.
	NoAuth bool `json:"no_auth"`
}

// Exposure is where one instance accepts connections, as the system
// sees it (runtime.Listening), or why that could not be read.
type Exposure struct {
	Instance  string           `json:"instance"`
	Service   string           `json:"service"`
	Listening []netip.AddrPort `json:"listening,omitempty"`
	Err       string           `json:"error,omitempty"`
}

// Certificate is a certificate tug serves: one already read (NotAfter
// set: what the proxy reports, or its certificates directory), or a file
// to read (Path).
type Certificate struct {
	// Name says where it comes from ("proxy.tls.cert", "acme",
	// "local_ca_root").
	Name string
	// Subject is the host it is served for, when known.
	Subject  string
	NotAfter time.Time
	Path     string
}

// Inputs is what the checks look at. Zero fields are not checked, except
// as Server says.
type Inputs struct {
	Config *config.Config
	// ConfigDir holds tug.yaml (and .tug/secrets.env).
	ConfigDir string
	StateDir  string
	// Tokens are the API tokens; nil when not known.
	Tokens []access.Token
	// Server says the server answered: Listeners and Instances are its.
	Server    bool
	Listeners []Listener
	Instances []Exposure
	// Certificates are the files to check (see ConfiguredCertificates).
	Certificates []Certificate
	Now          time.Time
}

// ConfiguredCertificates lists the certificate files c names, relative
// to dir.
func ConfiguredCertificates(c *config.Config, dir string) []Certificate {
	var out []Certificate
	if c != nil && c.Proxy != nil && c.Proxy.TLS != nil && c.Proxy.TLS.Cert != "" {
		p := c.Proxy.TLS.Cert
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		out = append(out, Certificate{Name: "proxy.tls.cert", Path: p})
	}
	return out
}

// Security runs every check on in. It reads files; it changes nothing.
func Security(in Inputs) Report {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	r := &Report{Findings: []Finding{}}
	add := func(sev Severity, check, subject, msg, fix string) {
		r.Findings = append(r.Findings, Finding{Severity: sev, Check: check, Subject: subject, Message: msg, Fix: fix})
	}
	r.Checked = append(r.Checked, CheckServer)
	if in.Server {
		r.Checked = append(r.Checked, CheckListener, CheckInstance)
		listeners(in, add)
		instances(in, add)
	} else {
		add(Info, CheckServer, "tug server", "the server is not running: its listeners and its instances' sockets were not checked", "run `tug doctor security` while the server runs")
	}
	if in.ConfigDir != "" {
		r.Checked = append(r.Checked, CheckSecrets)
		secretsFile(in, add)
	}
	if in.StateDir != "" {
		r.Checked = append(r.Checked, CheckState)
		stateFiles(in, add)
	}
	if in.Tokens != nil {
		r.Checked = append(r.Checked, CheckTokens)
		tokens(in, add)
	}
	r.Checked = append(r.Checked, CheckCerts)
	for _, c := range in.Certificates {
		certificate(in, c, add)
	}
	if in.Config != nil {
		r.Checked = append(r.Checked, CheckHealth)
		health(in, add)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int { return a.Severity.rank() - b.Severity.rank() })
	return *r
}

type adder func(sev Severity, check, subject, msg, fix string)

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return (err == nil && ip.IsLoopback()) || host == "localhost"
}

func listeners(in Inputs, add adder) {
	for _, l := range in.Listeners {
		switch {
		case l.NoAuth && !loopback(l.Addr):
			add(High, CheckListener, l.Addr, "the API listens on "+l.Addr+" with --insecure-no-auth: anyone who can reach it can deploy, roll back and change the config",
				"drop --insecure-no-auth and give clients API tokens (`tug token create`)")
		case l.NoAuth:
			add(Medium, CheckListener, l.Addr, "the API listens on "+l.Addr+" with --insecure-no-auth: every local user can deploy, roll back and change the config",
				"drop --insecure-no-auth and give clients API tokens (`tug token create`)")
		}
		if !l.TLS && !loopback(l.Addr) {
			add(High, CheckListener, l.Addr, "the API listens on "+l.Addr+", off loopback, without TLS: API tokens cross the network in clear",
				"bind it to loopback, or serve it with TLS (or behind a TLS-terminating proxy)")
		}
	}
}

func instances(in Inputs, add adder) {
	for _, e := range in.Instances {
		if e.Err != "" {
			add(Info, CheckInstance, e.Instance, "where instance "+e.Instance+" of "+e.Service+" listens could not be read: "+e.Err, "")
			continue
		}
		for _, ap := range e.Listening {
			if ap.Addr().IsLoopback() {
				continue
			}
			add(High, CheckInstance, e.Instance, fmt.Sprintf("instance %s of %s listens on %s, not only loopback: it is reachable without the proxy (its TLS, its limits)", e.Instance, e.Service, ap),
				"make the service listen on 127.0.0.1:$PORT; the proxy is the one listener meant for the outside")
		}
	}
}

func secretsFile(in Inputs, add adder) {
	p := filepath.Join(in.ConfigDir, secret.LocalFile)
	fi, err := os.Stat(p)
	if err != nil {
		return
	}
	sev, extra := Medium, ""
	if fi.Mode().Perm()&0o077 != 0 {
		sev, extra = High, fmt.Sprintf(" and readable by other users (mode %04o)", fi.Mode().Perm())
	}
	add(sev, CheckSecrets, p, "secrets are kept in clear in "+p+extra,
		"move them into tug's encrypted secret store and delete the file; until then, chmod 600 it and never commit it")
}

// bulkDirs hold copies of code, caches and metrics, not credentials or
// records: their modes are not reported one by one.
var bulkDirs = []string{"releases", "cache", "artifacts", "tsdb", "lost+found"}

// stateFiles reports a state directory others can enter, and files in
// it that others could read if they could.
func stateFiles(in Inputs, add adder) {
	fi, err := os.Stat(in.StateDir)
	if err != nil {
		return
	}
	open := fi.Mode().Perm()&0o011 != 0
	if fi.Mode().Perm()&0o077 != 0 {
		sev := Medium
		if open {
			sev = High
		}
		add(sev, CheckState, in.StateDir, fmt.Sprintf("the state directory %s is mode %04o: other users can reach tug's database, tokens, audit log and secrets", in.StateDir, fi.Mode().Perm()),
			"chmod 700 "+in.StateDir+" (tug server does it at start)")
	}
	var readable []string
	n := 0
	_ = filepath.WalkDir(in.StateDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || n > 100000 {
			return filepath.SkipDir
		}
		n++
		if d.IsDir() && filepath.Dir(p) == in.StateDir && slices.Contains(bulkDirs, d.Name()) {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeType != 0 && !d.IsDir() {
			return nil // sockets and links
		}
		info, err := d.Info()
		if err == nil && p != in.StateDir && info.Mode().Perm()&0o044 != 0 && !d.IsDir() {
			readable = append(readable, p)
		}
		return nil
	})
	if len(readable) == 0 {
		return
	}
	sev, why := Low, "the state directory keeps others out, but one chmod would let them read these"
	if open {
		sev, why = High, "other users can read them now"
	}
	example := readable
	if len(example) > 5 {
		example = example[:5]
	}
	rel := make([]string, len(example))
	for i, p := range example {
		rel[i], _ = filepath.Rel(in.StateDir, p)
	}
	more := ""
	if len(readable) > len(example) {
		more = fmt.Sprintf(" and %d more", len(readable)-len(example))
	}
	add(sev, CheckState, in.StateDir, fmt.Sprintf("%d state files are readable by group or others (%s%s): %s", len(readable), strings.Join(rel, ", "), more, why),
		"chmod -R go-rwx "+in.StateDir)
}

func tokens(in Inputs, add adder) {
	for _, t := range in.Tokens {
		if t.State(in.Now) != access.StateActive || t.ExpiresAt != nil {
			continue
		}
		sev := Low
		if t.Role == endpoint.Admin {
			sev = Medium
		}
		add(sev, CheckTokens, "token "+t.Name, fmt.Sprintf("API token %s (%s) never expires: if it leaks, it works until someone notices", t.Name, t.Role),
			fmt.Sprintf("make a new one with --expires (e.g. 90d), move its users over, then `tug token revoke %s`", t.Name))
	}
}

func certificate(in Inputs, c Certificate, add adder) {
	where := c.Path
	if c.NotAfter.IsZero() {
		data, err := os.ReadFile(c.Path)
		if err != nil {
			add(Medium, CheckCerts, c.Path, fmt.Sprintf("the certificate %s (%s) cannot be read: %v", c.Path, c.Name, errors.Unwrap(err)), "")
			return
		}
		block, _ := pem.Decode(data)
		var cert *x509.Certificate
		if block != nil {
			cert, err = x509.ParseCertificate(block.Bytes)
		}
		if block == nil || err != nil {
			add(Medium, CheckCerts, c.Path, fmt.Sprintf("the certificate %s (%s) is not a PEM certificate", c.Path, c.Name), "")
			return
		}
		c.NotAfter, c.Subject = cert.NotAfter, cert.Subject.CommonName
		if c.Subject == "" && len(cert.DNSNames) > 0 {
			c.Subject = cert.DNSNames[0]
		}
	}
	if where == "" {
		where = c.Name + " " + c.Subject
	}
	subject := cmp.Or(c.Subject, "tug's local CA")
	left := c.NotAfter.Sub(in.Now)
	when := c.NotAfter.UTC().Format("2006-01-02")
	switch {
	case left <= 0:
		add(High, CheckCerts, where, fmt.Sprintf("the certificate for %s (%s) expired on %s: clients refuse it", subject, c.Name, when), "renew it")
	case left < certWarnWithin:
		add(Medium, CheckCerts, where, fmt.Sprintf("the certificate for %s (%s) expires on %s, in %d days", subject, c.Name, when, int(left.Hours()/24)), "renew it now")
	case left < certNoteWithin:
		add(Low, CheckCerts, where, fmt.Sprintf("the certificate for %s (%s) expires on %s, in %d days", subject, c.Name, when, int(left.Hours()/24)), "plan its renewal")
	}
}

func health(in Inputs, add adder) {
	for _, name := range in.Config.ServiceOrder {
		s := in.Config.Services[name]
		if s == nil || (s.Health != nil && s.Health.Path != "") {
			continue
		}
		add(Low, CheckHealth, "service "+name, "service "+name+" has no health check path: a deploy only waits for its port to accept connections, and a broken release that still listens goes live",
			"add health: {path: /healthz} (an endpoint that answers 2xx only when the service works)")
	}
}
