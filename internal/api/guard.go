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
}

// remoteKey marks a request that came in over TCP.
type remoteKey struct{}

// Remote is the API as served on a TCP listener, which any local user
// and any web page a browser shows can reach, unlike the unix socket.
// Before routing it refuses (403) a request whose Host is not the
// listener's address, localhost (for a loopback listener) or one of
// Hosts, which is what a DNS-rebinding page sends; and a request a
// browser marks as coming from another origin (Origin, Sec-Fetch-Site).
// A change (any operation but a read) must then carry a JSON body type
// (415 otherwise), which a page cannot send to another origin without a
// CORS preflight, and tug answers none.
func (h *Handler) Remote(o RemoteOptions) http.Handler {
	var own netip.Addr
	if ta, ok := o.Addr.(*net.TCPAddr); ok {
		own, _ = netip.AddrFromSlice(ta.IP)
		own = own.Unmap()
	}
	hosts := make([]string, len(o.Hosts))
	for i, n := range o.Hosts {
		hosts[i] = strings.ToLower(strings.TrimSuffix(n, "."))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := checkHost(r.Host, own, hosts)
		if err == nil {
			err = checkOrigin(r)
		}
		if err != nil {
			h.log.Warn("api: refused a request on the TCP listener", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "host", r.Host, "origin", r.Header.Get("Origin"), "err", err)
			h.router.WriteError(w, r, endpoint.Fail(endpoint.CodeForbidden, err))
			return
		}
		h.router.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), remoteKey{}, true)))
	})
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

// check runs before every operation: on the TCP listener, a change must
// come with a JSON body type. (API tokens and roles will be checked here
// too; see endpoint.Role.)
func (h *Handler) check(r *http.Request, op *endpoint.Op) error {
	// A Signed operation (a forge's webhook) is authenticated by its
	// signature, which no page of another origin can make: its body is
	// whatever the forge sends.
	if remote, _ := r.Context().Value(remoteKey{}).(bool); !remote || !op.Mutates() || op.Signed {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != endpoint.MediaJSON {
		return endpoint.Failf(endpoint.CodeUnsupportedMedia,
			"%s %s changes state: send it with Content-Type: application/json (got %q)", op.Method, op.Path, r.Header.Get("Content-Type"))
	}
	return nil
}
