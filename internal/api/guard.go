package api

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/audit"
	"github.com/tugdev/tug/internal/endpoint"
)

// RemoteOptions describe a TCP listener the API is served on.
type RemoteOptions struct {
	// Addr is the address the listener is bound to.
	Addr net.Addr
	// Hosts are further host names clients may reach it by (a DNS name of
	// the machine, a reverse proxy's name); they are matched without the
	// port, case-insensitively.
	Hosts []string
	// NoAuth serves requests that carry no token as the admin's
	// (--insecure-no-auth): anyone who reaches the listener may do
	// anything. A token that is sent is still checked.
	NoAuth bool
}

// remoteKey marks a request that came in over TCP.
type remoteKey struct{}

// Remote is the API as served on a TCP listener, which any local user
// and any web page a browser shows can reach, unlike the unix socket.
// Before routing it refuses (403) a request whose Host is not the
// listener's address, localhost (for a loopback listener) or one of
// Hosts, which is what a DNS-rebinding page sends; and a request a
// browser marks as coming from another origin (Origin, Sec-Fetch-Site),
// but for the pages links open (linkPage).
// It then authenticates the caller (see authenticate): 401 without a
// valid token, each refusal written to the audit log without the token
// presented. A change (any operation but a read) must then carry a JSON
// body type (415 otherwise), which a page cannot send to another origin
// without a CORS preflight, and tug answers none; and every operation
// checks the caller's role (403).
//
// A layer in front of Remote that authenticates requests itself (the
// dashboard's sessions, made from a token checked with
// access.Tokens.Verify) puts the identity in the request's context with
// access.WithIdentity; Remote then takes it as it is.
func (h *Handler) Remote(o RemoteOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := h.router.Match(r)
		err := o.CheckHost(r)
		if err == nil && !linkPage(op) {
			err = checkOrigin(r)
		}
		if err != nil {
			h.log.Warn("api: refused a request on the TCP listener", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "host", r.Host, "origin", r.Header.Get("Origin"), "err", err)
			h.router.WriteError(w, r, endpoint.Fail(endpoint.CodeForbidden, err))
			return
		}
		ctx := context.WithValue(r.Context(), remoteKey{}, true)
		id, ok := access.IdentityOf(ctx)
		if !ok {
			if id, err = h.authenticate(r, op, o.NoAuth); err != nil {
				h.refuse(w, r, op, err)
				return
			}
			ctx = access.WithIdentity(ctx, id)
		}
		h.serve(w, r.WithContext(ctx), op, r.RemoteAddr)
	})
}

// CheckHost refuses a request to the listener o describes whose Host is
// not one of its names (see Remote): what a DNS-rebinding page sends. A
// layer served beside the API on the same listener (the dashboard) checks
// its requests with it.
func (o RemoteOptions) CheckHost(r *http.Request) error {
	var own netip.Addr
	if ta, ok := o.Addr.(*net.TCPAddr); ok {
		own, _ = netip.AddrFromSlice(ta.IP)
		own = own.Unmap()
	}
	hosts := make([]string, len(o.Hosts))
	for i, n := range o.Hosts {
		hosts[i] = strings.ToLower(strings.TrimSuffix(n, "."))
	}
	return checkHost(r.Host, own, hosts)
}

// CheckOrigin refuses what a browser sends on behalf of another site or
// origin (Sec-Fetch-Site, Origin); clients that are not browsers send
// neither header.
func CheckOrigin(r *http.Request) error { return checkOrigin(r) }

// linkPage says whether op is a page a link in a notification opens (a
// read that checks its own signature, such as an acknowledgement link's
// confirmation page): a click from a mail client or a webmail's site
// reaches it, since it changes nothing and its answer is no other
// origin's to read; what it offers to do is a POST from its own origin.
func linkPage(op *endpoint.Op) bool {
	return op != nil && op.Signed && op.Method == http.MethodGet
}

// checkHost accepts a Host naming the listener: its IP address (any, when
// it listens on all of them; an IP cannot be rebound), localhost when it
// listens on loopback, or a configured name.
func checkHost(host string, own netip.Addr, names []string) error {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.ToLower(strings.TrimSuffix(strings.Trim(name, "[]"), "."))
	if ip, err := netip.ParseAddr(name); err == nil {
		ip = ip.Unmap()
		if ip == own || (own.IsValid() && own.IsUnspecified()) {
			return nil
		}
		return errors.New("Host " + host + " is not this listener's address")
	}
	switch {
	case name == "localhost" && own.IsValid() && (own.IsLoopback() || own.IsUnspecified()):
		return nil
	case name != "" && slices.Contains(names, name):
		return nil
	}
	return errors.New("Host " + host + " is not a name of this server (a DNS-rebinding page sends its own name); " +
		"add it with --allow-host if clients reach the API by it")
}

// checkOrigin refuses what a browser sends on behalf of another origin.
// Clients that are not browsers send neither header.
func checkOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return errors.New("a browser request from another site (Sec-Fetch-Site: " + site + ")")
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
		return errors.New("a browser request from another origin (Origin: " + origin + ")")
	}
	return nil
}

// check runs before every operation, after routing: it names the
// audited call's target from the path, refuses a caller whose role may
// not call op (403), and on the TCP listener refuses a change without a
// JSON body type. Operations that authenticate their caller by a
// signature (Signed) need no role and take whatever body their sender
// posts.
func (h *Handler) check(r *http.Request, op *endpoint.Op) error {
	ctx := r.Context()
	if call := audit.CallOf(ctx); call != nil {
		var parts []string
		for _, p := range op.Parameters() {
			if p.In == "path" {
				parts = append(parts, r.PathValue(p.Name))
			}
		}
		audit.SetTarget(ctx, strings.Join(parts, "/"))
	}
	if !op.Signed {
		id, _ := access.IdentityOf(ctx)
		if !id.Role.Allows(op.Role) {
			return endpoint.Failf(endpoint.CodeForbidden, "%s %s needs the %s role; %s has the %s role", op.Method, op.Path, op.Role, id.Actor, roleName(id.Role))
		}
	}
	if remote, _ := ctx.Value(remoteKey{}).(bool); !remote || !op.Mutates() || op.Signed {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != endpoint.MediaJSON {
		return endpoint.Failf(endpoint.CodeUnsupportedMedia,
			"%s %s changes state: send it with Content-Type: application/json (got %q)", op.Method, op.Path, r.Header.Get("Content-Type"))
	}
	return nil
}

func roleName(r endpoint.Role) string {
	if r == "" {
		return "no"
	}
	return string(r)
}
