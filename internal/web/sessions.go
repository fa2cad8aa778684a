package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tugdev/tug/internal/access"
	"github.com/tugdev/tug/internal/api"
)

// The session cookie and the lifetime of a session.
const (
	cookieName = "tug_session"
	// idleTimeout ends a session nobody used for that long.
	idleTimeout = 12 * time.Hour
	// maxSessions bounds the table: the least recently used go first.
	maxSessions = 10000
)

// session is one browser's: the CSRF token of its forms and, once
// logged in, who it is. Sessions live in memory only: a server restart
// logs everyone out, and no session secret is ever written to disk.
type session struct {
	id   string
	csrf string
	// ident is the identity of the token the session logged in with;
	// tokenID names the token, whose state is checked at every request.
	ident   *access.Identity
	tokenID string
	seen    time.Time
}

// sessions is the table of sessions, safe for concurrent use.
type sessions struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, m: map[string]*session{}}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// get is the session r's cookie names, if it is known and not idle too
// long.
func (t *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[c.Value]
	if s == nil {
		return nil
	}
	now := t.now()
	if now.Sub(s.seen) > idleTimeout {
		delete(t.m, s.id)
		return nil
	}
	s.seen = now
	return s
}

// create makes a new session, evicting the least recently used one when
// the table is full.
func (t *sessions) create() *session {
	s := &session{id: randomString(), csrf: randomString(), seen: t.now()}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxSessions {
		var oldest *session
		for _, o := range t.m {
			if oldest == nil || o.seen.Before(oldest.seen) {
				oldest = o
			}
		}
		delete(t.m, oldest.id)
	}
	t.m[s.id] = s
	return s
}

// login replaces old with a new session (a new ID and CSRF token, so a
// session ID planted before the login is worth nothing) that carries id.
func (t *sessions) login(old *session, id access.Identity, tokenID string) *session {
	t.drop(old)
	s := t.create()
	id.Via = access.ViaSession
	t.mu.Lock()
	s.ident, s.tokenID = &id, tokenID
	t.mu.Unlock()
	return s
}

func (t *sessions) drop(s *session) {
	if s == nil {
		return
	}
	t.mu.Lock()
	delete(t.m, s.id)
	t.mu.Unlock()
}

// setCookie gives the browser s: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure under TLS.
func (t *sessions) setCookie(w http.ResponseWriter, r *http.Request, s *session) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: s.id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// checkPost refuses a form that does not carry its session's CSRF token,
// or that a browser sent from another site.
func checkPost(r *http.Request, s *session) error {
	if err := api.CheckOrigin(r); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return errors.New("a bad form: " + err.Error())
	}
	got := r.PostForm.Get("csrf")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return errors.New("this form is stale or did not come from this dashboard (CSRF token mismatch): reload the page and try again")
	}
	return nil
}

// loginPage shows the login form; a POST checks the token.
func (d *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r.Context())
	next := localPath(r.FormValue("next"))
	data := struct{ Next, Error string }{Next: next}
	if r.Method == http.MethodPost {
		id, err := d.verify(r.PostForm.Get("token"))
		if err == nil {
			s := d.sessions.login(v.sess, id.ident, id.tokenID)
			d.sessions.setCookie(w, r, s)
			d.log.Info("web: login", "actor", id.ident.Actor, "remote", r.RemoteAddr)
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		d.log.Warn("web: login refused", "remote", r.RemoteAddr, "err", err)
		if d.o.LoginRefused != nil {
			var ref *access.Refusal
			name := ""
			if errors.As(err, &ref) {
				name = ref.Token
			}
			d.o.LoginRefused(r.RemoteAddr, name, err.Error())
		}
		data.Error = err.Error()
		w.WriteHeader(http.StatusUnauthorized)
	}
	d.render(w, r, "login", "Log in", data)
}

type verified struct {
	ident   access.Identity
	tokenID string
}

func (d *Handler) verify(token string) (verified, error) {
	if d.o.Tokens == nil {
		return verified{}, errors.New("this server keeps no API tokens")
	}
	id, err := d.o.Tokens.Verify(token)
	if err != nil {
		return verified{}, err
	}
	for _, t := range d.o.Tokens.List() {
		if t.Name == id.Token && t.State(d.now()) == access.StateActive {
			return verified{ident: id, tokenID: t.ID}, nil
		}
	}
	return verified{}, errors.New("the token is no longer active")
}

// logout ends the session.
func (d *Handler) logout(w http.ResponseWriter, r *http.Request) {
	v := viewerOf(r.Context())
	d.sessions.drop(v.sess)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath is next when it is a path on this server, else "/": the page
// a login returns to must not be another site's ("//evil.example", and
// "/\\evil.example", which browsers read the same way).
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}
