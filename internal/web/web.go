// Package web is tug's dashboard: server-rendered HTML pages (overview,
// services, pipelines, alerts and incidents, a PromQL explorer) served
// beside the API on its listeners. The dashboard is a client of tug's own
// API, called in-process (api.InProcess): it reads and acts only through
// the API's operations, with the identity of the person logged in carried
// in each call's context, so the API checks roles and audits every action
// as it does for the CLI. Pages read fine without JavaScript; a small
// script adds live updates (Server-Sent Events) and chart tooltips.
package web

import (
	"context"
	"embed"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/endpoint"
)

//go:embed assets templates
var files embed.FS

// Options wire a Handler. API is required.
type Options struct {
	// API is the API's handler (*api.Handler): the dashboard calls it in
	// this process with the caller's identity in the context.
	API http.Handler
	// Tokens are the server's API tokens: when any is active, the
	// dashboard on a TCP listener asks for one at login. nil: none.
	Tokens *access.Tokens
	// Life bounds actions that outlive their request (a deploy started
	// from a page goes on after the redirect); the server cancels it
	// when it stops. nil: they run to their end.
	Life context.Context
	// LoginRefused, when set, hears of each refused login (for the audit
	// log): where it came from, the token's name when the value presented
	// was one of this server's (revoked, expired), and why. Never the
	// value itself.
	LoginRefused func(source, token, reason string)
	// Tick is how often a live page re-renders its parts (default 1s).
	Tick   time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the dashboard's pages. Safe for concurrent use.
type Handler struct {
	o        Options
	log      *slog.Logger
	now      func() time.Time
	client   *api.Client
	sessions *sessions
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New parses the templates and builds the routes.
func New(o Options) (*Handler, error) {
	d := &Handler{o: o, log: o.Logger, now: o.Now, client: api.InProcess(o.API)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.o.Life == nil {
		d.o.Life = context.Background()
	}
	if d.o.Tick <= 0 {
		d.o.Tick = time.Second
	}
	d.sessions = newSessions(d.now)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	d.pages = pages
	d.mux = d.routes()
	return d, nil
}

// Socket serves the dashboard on the API's unix socket: the caller is
// the identity the server put in the connection's context (the local
// admin).
func (d *Handler) Socket() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := access.IdentityOf(r.Context())
		if !ok {
			id = access.Identity{Actor: "local", Role: endpoint.Admin, Via: access.ViaSocket}
		}
		d.serve(w, r, func(*session) (access.Identity, string) { return id, "" })
	})
}

// Remote serves the dashboard on a TCP listener the API is served on
// too. Requests whose Host is not the listener's are refused (DNS
// rebinding). The caller is, in order: the identity of its session (a
// login with an API token that is still active); the anonymous admin
// when the listener serves without authentication (NoAuth); nobody,
// sent to the login page, when the server has active tokens; the local
// viewer when it has none and the listener is on loopback (read-only:
// any local user reaches loopback, and acting takes a token, as on the
// API); else refused, since a dashboard without login must not be
// reachable from elsewhere.
func (d *Handler) Remote(o api.RemoteOptions) http.Handler {
	onLoopback := false
	if ta, ok := o.Addr.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		onLoopback = ip.Unmap().IsLoopback()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := o.CheckHost(r); err != nil {
			d.log.Warn("web: refused a request", "host", r.Host, "remote", r.RemoteAddr, "err", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		d.serve(w, r, func(s *session) (access.Identity, string) {
			if id, ok := d.sessionIdentity(s); ok {
				return id, ""
			}
			switch {
			case o.NoAuth:
				return access.Identity{Actor: "anonymous (--insecure-no-auth)", Role: endpoint.Admin, Via: access.ViaNoAuth}, ""
			case d.tokensActive():
				return access.Identity{}, needLogin
			case onLoopback:
				// Read-only: every local user reaches a loopback port,
				// and the API on the same listener lets none of them act
				// without a token, so neither does its dashboard.
				return access.Identity{Actor: "local (dashboard on loopback, read-only)", Role: endpoint.Viewer, Via: access.ViaSocket}, ""
			}
			return access.Identity{}, "this server has no API tokens, so its dashboard is served on loopback only: " +
				"make one with `tug token create NAME --role viewer` and log in with it"
		})
	})
}

// needLogin is the refusal that sends a browser to the login page.
const needLogin = "login"

// tokensActive says whether the server has an active API token.
func (d *Handler) tokensActive() bool {
	if d.o.Tokens == nil {
		return false
	}
	now := d.now()
	for _, t := range d.o.Tokens.List() {
		if t.State(now) == access.StateActive {
			return true
		}
	}
	return false
}

// sessionIdentity is the identity of a logged-in session whose token is
// still active: revoking or expiring the token ends the session.
func (d *Handler) sessionIdentity(s *session) (access.Identity, bool) {
	if s == nil || s.ident == nil || d.o.Tokens == nil {
		return access.Identity{}, false
	}
	now := d.now()
	for _, t := range d.o.Tokens.List() {
		if t.ID == s.tokenID && t.State(now) == access.StateActive {
			id := *s.ident
			id.Role = t.Role
			return id, true
		}
	}
	return access.Identity{}, false
}

// viewer is who is looking at a page and what the page may offer them.
type viewer struct {
	ident access.Identity
	sess  *session
	// loggedIn: the session logged in with a token (it may log out).
	loggedIn bool
}

type viewerKey struct{}

// serve finds the session (making one, which carries the CSRF token of
// the forms, when the browser has none), asks who the caller is, checks
// every POST's CSRF token and origin, and routes.
func (d *Handler) serve(w http.ResponseWriter, r *http.Request, who func(*session) (access.Identity, string)) {
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		d.mux.ServeHTTP(w, r)
		return
	}
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	w.Header().Set("Referrer-Policy", "same-origin")
	s := d.sessions.get(r)
	if s == nil {
		if r.Method == http.MethodGet && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			// A link from another site: a SameSite=Strict cookie was not
			// sent, so making a session now would replace the one the
			// browser holds. Come again from this site instead.
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><meta http-equiv="refresh" content="0"><title>tug</title><a href="">continue</a>`))
			return
		}
		s = d.sessions.create()
		d.sessions.setCookie(w, r, s)
	}
	if r.Method == http.MethodPost {
		if err := checkPost(r, s); err != nil {
			d.log.Warn("web: refused a form", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			d.errorPage(w, r, &viewer{sess: s}, http.StatusForbidden, err.Error())
			return
		}
	}
	id, refusal := who(s)
	v := &viewer{ident: id, sess: s, loggedIn: s.ident != nil && refusal == ""}
	switch {
	case r.URL.Path == "/login" || r.URL.Path == "/logout":
	case refusal == needLogin && r.Method == http.MethodGet && r.Header.Get("Accept") != "text/event-stream":
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	case refusal == needLogin:
		d.errorPage(w, r, v, http.StatusUnauthorized, "log in first")
		return
	case refusal != "":
		d.errorPage(w, r, v, http.StatusForbidden, refusal)
		return
	}
	ctx := context.WithValue(r.Context(), viewerKey{}, v)
	if refusal == "" {
		ctx = access.WithIdentity(ctx, id)
	}
	ctx = api.WithSource(ctx, "dashboard "+r.RemoteAddr)
	d.mux.ServeHTTP(w, r.WithContext(ctx))
}

func viewerOf(ctx context.Context) *viewer {
	v, _ := ctx.Value(viewerKey{}).(*viewer)
	if v == nil {
		return &viewer{}
	}
	return v
}
