package server

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/audit"
)

// AuditDir is the audit log's directory in the state directory.
const AuditDir = "audit"

// openAccess opens the API tokens and the audit log of the state
// directory, before anything serves: a tokens file or an audit log that
// cannot be read stops the start with an error naming it.
func (d *daemon) openAccess(context.Context) error {
	tokens, err := access.OpenTokens(filepath.Join(d.o.StateDir, access.TokensFile), d.o.Now)
	if err != nil {
		return err
	}
	log, err := audit.Open(filepath.Join(d.o.StateDir, AuditDir), audit.Options{Now: d.o.Now, Logger: d.log})
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

// peerContext names the peer of a unix socket connection, the local
// admin, by its uid (SO_PEERCRED), for every request on it.
func peerContext(ctx context.Context, c net.Conn) context.Context {
	return access.WithIdentity(ctx, access.SocketPeer(c))
}

// warnListener says loudly what a TCP listener exposes: without
// authentication, everything to anyone who reaches it; off loopback
// without TLS, the tokens clients send, to anyone on the path.
func (d *daemon) warnListener(addr net.Addr) {
	if d.o.InsecureNoAuth {
		d.log.Warn("the API on TCP has NO AUTHENTICATION (--insecure-no-auth): anyone who can reach it can deploy, roll back and change the config",
			"addr", addr.String(), "allowed_hosts", d.o.AllowHosts)
	}
	if !loopback(addr) {
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
