package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/api"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/incident"
)

// page is what every template gets: the page's own data in Data.
type page struct {
	Title string
	// Nav is the menu entry to mark as current.
	Nav  string
	Who  string
	Role endpoint.Role
	// LoggedIn offers a logout button.
	LoggedIn bool
	CSRF     string
	// Loc is the viewer's time zone (a tz cookie or parameter the script
	// sets from the browser's zone; UTC without one).
	Loc  *time.Location
	Now  time.Time
	Data any
	// Live is the page's event stream, "" for a page that does not change.
	Live bool
}

// The actions the viewer's role allows: a page offers only those.
func (p *page) CanDeploy() bool      { return p.Role.Allows(api.OpDeploy.Role()) }
func (p *page) CanApprove() bool     { return p.Role.Allows(api.OpApprove.Role()) }
func (p *page) CanAck() bool         { return p.Role.Allows(alert.OpAck.Role()) }
func (p *page) CanSilence() bool     { return p.Role.Allows(alert.OpAddSilence.Role()) }
func (p *page) CanAckIncident() bool { return p.Role.Allows(incident.OpAck.Role()) }

// layoutFiles are parsed with every page.
var layoutFiles = []string{"templates/layout.html", "templates/parts.html"}

// parsePages parses each templates/*.html page (all but the layout
// files) with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		if n == layoutFiles[0] || n == layoutFiles[1] {
			continue
		}
		t, err := template.New("").Funcs(funcs()).ParseFS(files, append([]string{n}, layoutFiles...)...)
		if err != nil {
			return nil, err
		}
		out[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return out, nil
}

// funcs are the templates' helpers.
func funcs() template.FuncMap {
	return template.FuncMap{
		"when": func(t time.Time, loc *time.Location) string {
			if t.IsZero() {
				return ""
			}
			return t.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		"whenp": func(t *time.Time, loc *time.Location) string {
			if t == nil || t.IsZero() {
				return ""
			}
			return t.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		"ago":   ago,
		"ms":    func(ms float64) string { return roughDuration(time.Duration(ms * float64(time.Millisecond))) },
		"short": func(s string) string { return shortRev(s) },
		"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
		"value": formatValue,
		"first": firstLine,
		"coverage": func(c *float64) string {
			if c == nil {
				return ""
			}
			return fmt.Sprintf("%.1f%%", *c)
		},
	}
}

// ago is how long before now t was, to the minute: a live part that
// shows it changes once a minute, not at every tick.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case t.IsZero():
		return ""
	case d < time.Minute:
		return "under a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// roughDuration is d to the second, or to the minute past an hour.
func roughDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func shortRev(s string) string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// location is the viewer's time zone: the tz parameter, else the tz
// cookie, else UTC.
func location(r *http.Request) *time.Location {
	name := r.URL.Query().Get("tz")
	if name == "" {
		if c, err := r.Cookie("tz"); err == nil {
			name = c.Value
		}
	}
	if name == "" || len(name) > 64 {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// newPage is the page data for r.
func (d *Handler) newPage(r *http.Request, title string, data any) *page {
	v := viewerOf(r.Context())
	p := &page{Title: title, Who: v.ident.Actor, Role: v.ident.Role, LoggedIn: v.loggedIn, Loc: location(r), Now: d.now(), Data: data}
	if v.sess != nil {
		p.CSRF = v.sess.csrf
	}
	return p
}

// render writes the page name with data.
func (d *Handler) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	d.renderPage(w, d.newPage(r, title, data), name)
}

func (d *Handler) renderPage(w http.ResponseWriter, p *page, name string) {
	var buf bytes.Buffer
	t := d.pages[name]
	if p.Nav == "" {
		p.Nav = name
	}
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		d.log.Error("web: rendering a page", "page", name, "err", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// fragment renders the part name of page tmpl.
func (d *Handler) fragment(tmpl, name string, p *page) (string, error) {
	var buf bytes.Buffer
	if err := d.pages[tmpl].ExecuteTemplate(&buf, name, p); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// errorPage answers status with msg as a page.
func (d *Handler) errorPage(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	ctx := context.WithValue(r.Context(), viewerKey{}, v)
	p := d.newPage(r.WithContext(ctx), http.StatusText(status), struct {
		Status int
		Text   string
	}{status, msg})
	w.WriteHeader(status)
	d.renderPage(w, p, "error")
}

// errNotFound is a page about something that does not exist (404).
var errNotFound = errors.New("not found")

// fail answers a page whose data could not be read: 404 for something
// unknown, the API's status for its errors, else 502 with the error.
func (d *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	var e *endpoint.Error
	switch {
	case errors.Is(err, errNotFound):
		status = http.StatusNotFound
	case errors.As(err, &e) && e.Status >= 400:
		status = e.Status
	}
	d.errorPage(w, r, viewerOf(r.Context()), status, err.Error())
}

// liveHandler serves a page built by build, whose parts named in parts
// are sent again over Server-Sent Events (when the request asks for an
// event stream) whenever they change; follow, when set, streams more
// (log lines) until the client goes.
type liveHandler struct {
	d     *Handler
	tmpl  string
	parts []string
	// slow are the parts (of parts) sent again only every slowEvery
	// ticks: charts, whose queries cost more than a page's state.
	slow   []string
	build  func(r *http.Request) (title string, data any, err error)
	follow func(ctx context.Context, r *http.Request, p *page, send func(event) error) error
}

// slowEvery is how many ticks apart a live page's slow parts are sent.
const slowEvery = 10

// partsKey carries the parts of a page a stream is about to send.
type partsKey struct{}

// wants says whether the page being built will show part: every part of
// a whole page, only those a stream sends at this tick.
func wants(r *http.Request, part string) bool {
	parts, ok := r.Context().Value(partsKey{}).([]string)
	return !ok || slices.Contains(parts, part)
}

// event is one message of a page's stream: the part whose HTML is
// replaced (ID and HTML), or HTML appended to the part Append.
type event struct {
	ID     string `json:"id,omitempty"`
	Append string `json:"append,omitempty"`
	HTML   string `json:"html"`
}

func (h *liveHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Accept") == "text/event-stream" {
		h.stream(w, r)
		return
	}
	title, data, err := h.build(r)
	if err != nil {
		h.d.fail(w, r, err)
		return
	}
	p := h.d.newPage(r, title, data)
	p.Live = len(h.parts) > 0 || h.follow != nil
	h.d.renderPage(w, p, h.tmpl)
}

// stream sends the page's parts every Tick while they change, and what
// follow sends, until the client goes. The browser's EventSource
// reconnects by itself after a server restart; the first message after
// a (re)connection carries every part.
func (h *liveHandler) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("retry: 2000\n\n"))
	if err := rc.Flush(); err != nil {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	events := make(chan event, 64)
	send := func(e event) error {
		select {
		case events <- e:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if h.follow != nil {
		go func() {
			p := h.d.newPage(r, "", nil)
			if err := h.follow(ctx, r, p, send); err != nil && ctx.Err() == nil {
				h.d.log.Debug("web: following", "path", r.URL.Path, "err", err)
			}
		}()
	}
	last := map[string]string{}
	tick := time.NewTicker(h.d.o.Tick)
	defer tick.Stop()
	write := func(e event) bool {
		b, _ := json.Marshal(e)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	refresh := func(all bool) bool {
		if len(h.parts) == 0 {
			return true
		}
		parts := h.parts
		if !all {
			parts = slices.DeleteFunc(slices.Clone(parts), func(p string) bool { return slices.Contains(h.slow, p) })
		}
		rr := r.WithContext(context.WithValue(r.Context(), partsKey{}, parts))
		title, data, err := h.build(rr)
		if err != nil {
			return !errors.Is(err, context.Canceled)
		}
		p := h.d.newPage(r, title, data)
		for _, part := range parts {
			html, err := h.d.fragment(h.tmpl, part, p)
			if err != nil {
				h.d.log.Error("web: rendering a part", "part", part, "err", err)
				continue
			}
			if last[part] == html {
				continue
			}
			last[part] = html
			if !write(event{ID: part, HTML: html}) {
				return false
			}
		}
		return true
	}
	if !refresh(true) {
		return
	}
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-h.d.o.Life.Done():
			return
		case e := <-events:
			if !write(e) {
				return
			}
		case <-tick.C:
			if !refresh(n%slowEvery == 0) {
				return
			}
		}
	}
}
