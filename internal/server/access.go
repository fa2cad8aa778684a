package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/backup"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/doctor"
	"github.com/tugdev/tug/internal/proxy"
	"github.com/tugdev/tug/internal/runtime"
	"github.com/tugdev/tug/internal/secret"
)

// AuditDir is the audit log's directory in the state directory.
const AuditDir = "audit"

// openAccess opens the API tokens and the audit log of the state
// directory, before anything serves and before the rooms that record
// their own changes in it (rotations, ramps, remediations) start: a
// tokens file or an audit log that cannot be read stops the start with
// an error naming it.
func (d *daemon) openAccess(context.Context) error {
	tokens, err := access.OpenTokens(filepath.Join(d.o.StateDir, access.TokensFile), d.o.Now)
	if err != nil {
		return err
	}
	// The secrets room, opened next, sets the resolver the masker uses
	// at the first record.
	resolve := func(ctx context.Context, names []string) (map[string]secret.Value, error) {
		return d.o.Secrets(ctx, names)
	}
	masks := &secretMask{src: d.src, resolve: resolve, log: d.log}
	log, err := audit.Open(filepath.Join(d.o.StateDir, AuditDir), audit.Options{Now: d.o.Now, Logger: d.log, Mask: masks.mask})
	if err != nil {
		return err
	}
	d.later(func() {
		if err := log.Close(); err != nil {
			d.log.Warn("closing the audit log", "err", err)
		}
	})
	d.tokens, d.audit = tokens, log
	d.src.record = log.Record
	return nil
}

// secretMask hides, in audit records, the values of the secrets the
// config in force names (resolved as the server resolves them for its
// services and jobs), and their encodings: records are built never to
// hold one, and this catches what an error message might echo. The
// masker is rebuilt on the first record after the config changes.
type secretMask struct {
	src     *configSource
	resolve func(ctx context.Context, names []string) (map[string]secret.Value, error)
	log     *slog.Logger

	mu   sync.Mutex
	hash string
	m    *secret.Masker
}

func (s *secretMask) mask(text string) string {
	if text == "" {
		return text
	}
	snap := s.src.Current()
	s.mu.Lock()
	if snap.Hash != s.hash {
		s.m, s.hash = s.build(snap.Config), snap.Hash
	}
	m := s.m
	s.mu.Unlock()
	return m.Mask(text)
}

// build resolves each secret name c mentions on its own, so one that is
// missing does not leave the others unmasked.
func (s *secretMask) build(c *config.Config) *secret.Masker {
	var names []string
	for _, svc := range c.Services {
		names = append(names, svc.Secrets...)
	}
	for _, p := range c.Pipelines {
		for _, j := range p.Jobs {
			names = append(names, j.Secrets...)
		}
	}
	slices.Sort(names)
	var vals []secret.Value
	for _, n := range slices.Compact(names) {
		got, err := s.resolve(context.Background(), []string{n})
		if err != nil {
			continue
		}
		if v, ok := got[n]; ok {
			vals = append(vals, v)
		}
	}
	m, warnings := secret.NewMasker(vals...)
	for _, w := range warnings {
		s.log.Warn("audit log: " + w)
	}
	return m
}

// auditRefusedLogin writes a refused dashboard login to the audit log,
// as the API writes a refused token: the token's name when it was one of
// this server's, never the value presented.
func (d *daemon) auditRefusedLogin(source, token, reason string) {
	actor := "unknown"
	if token != "" {
		actor = "token:" + token
	}
	if err := d.audit.Note(audit.Record{Actor: actor, Action: "POST /login", Source: "dashboard " + source,
		Outcome: audit.Denied, Detail: "credentials refused: " + reason}); err != nil {
		d.log.Error("audit: recording a refused login", "err", err)
	}
}

// peerContext names the peer of a unix socket connection, the local
// admin, by its uid (SO_PEERCRED), for every request on it.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	return access.WithIdentity(ctx, access.SocketPeer(c))
}

// warnListener says loudly what a TCP listener exposes: without
// authentication, everything to anyone who reaches it; off loopback
// without TLS, the tokens clients send, to anyone on the path.
func (d *daemon) warnListener(addr net.Addr, tls bool) {
	if d.o.InsecureNoAuth {
		d.log.Warn("the API on TCP has NO AUTHENTICATION (--insecure-no-auth): anyone who can reach it can deploy, roll back and change the config",
			"addr", addr.String(), "allowed_hosts", d.o.AllowHosts)
	}
	if !tls && !loopback(addr) {
		d.log.Warn("the API on TCP is reachable from other machines without TLS: tokens cross the network in clear; bind loopback or put a TLS proxy in front",
			"addr", addr.String())
	}
}

// loopback says whether addr is a loopback address.
func loopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	return ok && ip.Unmap().IsLoopback()
}

// certificates are those the proxy serves, as it reports them (or, when
// it does not answer, as its certificates directory and tug.yaml name
// them), and the API listener's.
func (d *daemon) certificates(ctx context.Context, cfg *config.Config, dir string) []doctor.Certificate {
	var out []doctor.Certificate
	var served []proxy.CertStatus
	err := errors.New("no proxy")
	if d.px != nil {
		served, err = d.px.client.Certs(ctx)
	}
	if err != nil {
		d.log.Debug("doctor: the proxy does not list its certificates; reading them from disk", "err", err)
		served, _ = proxy.StoredCertificates(d.o.StateDir)
		out = doctor.ConfiguredCertificates(cfg, dir)
	}
	for _, c := range served {
		out = append(out, doctor.Certificate{Name: "proxy " + c.Source, Subject: c.Host, NotAfter: c.NotAfter})
	}
	if d.apiCerts != nil {
		for _, c := range d.apiCerts.Status() {
			out = append(out, doctor.Certificate{Name: "api " + c.Source, Subject: c.Host, NotAfter: c.NotAfter})
		}
	}
	return out
}

// securityInputs gathers what `tug doctor security` checks, as this
// server sees it: the config in force, the state directory, the tokens,
// the API's TCP listener, and where each instance accepts connections
// according to the system (runtime.Listening).
func (d *daemon) securityInputs(ctx context.Context) (doctor.Inputs, error) {
	cfg := d.src.Current().Config
	dir := filepath.Dir(d.o.ConfigPath)
	in := doctor.Inputs{
		Config: cfg, ConfigDir: dir, StateDir: d.o.StateDir, Tokens: d.tokens.List(), Server: true, Now: d.o.Now(),
		Certificates: d.certificates(ctx, cfg, dir),
		Listeners:    []doctor.Listener{},
	}
	if d.info.Listen != "" {
		in.Listeners = append(in.Listeners, doctor.Listener{Addr: d.info.Listen, TLS: d.info.ListenTLS, NoAuth: d.o.InsecureNoAuth})
	}
	rts := *d.rts.Load()
	for _, name := range slices.Sorted(maps.Keys(rts)) {
		rt := rts[name]
		insts, err := rt.List(ctx)
		if err != nil {
			return in, fmt.Errorf("%s instances: %w", name, err)
		}
		l, ok := rt.(runtime.Listening)
		for _, inst := range insts {
			e := doctor.Exposure{Instance: inst.ID, Service: inst.Service}
			switch {
			case !ok:
				e.Err = "the " + name + " runtime cannot say"
			case inst.State != runtime.Running:
				continue
			default:
				if e.Listening, err = l.Listening(ctx, inst); err != nil {
					e.Err = err.Error()
				}
			}
			in.Instances = append(in.Instances, e)
		}
	}
	return in, nil
}

// backupRecorder is where backups record what they change: the option's
// recorder if given, else the audit log.
func (d *daemon) backupRecorder() backup.Recorder {
	if d.o.BackupRecorder != nil {
		return d.o.BackupRecorder
	}
	return auditedBackups{d.audit, d.log}
}

// auditedBackups writes backups' changes to the audit log: as the target
// of the API call that made one, or as tug's own (a scheduled backup).
type auditedBackups struct {
	log    *audit.Log
	logger *slog.Logger
}

func (a auditedBackups) Record(ctx context.Context, e backup.Event) {
	target := strings.Join(slices.DeleteFunc([]string{e.Backup, e.Snapshot, e.Target}, func(s string) bool { return s == "" }), " ")
	if audit.CallOf(ctx) != nil {
		audit.SetTarget(ctx, target)
		return
	}
	rec := audit.Record{Time: e.At, Actor: "tug", Action: e.Action, Target: target, Outcome: audit.OK, Detail: e.Error}
	if e.Outcome != "ok" {
		rec.Outcome = audit.Failed
	}
	if err := a.log.Record(context.WithoutCancel(ctx), rec); err != nil {
		a.logger.Error("audit: recording a backup change", "action", e.Action, "err", err)
	}
}
