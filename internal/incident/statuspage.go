package incident

import (
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/store"
)

// Service states on the status page.
const (
	Operational = "operational"
	Degraded    = "degraded"
	Down        = "down"
)

// PublicStatus is what the status page shows: nothing but each service's
// state and the open incidents' public notes.
type PublicStatus struct {
	Title     string          `json:"title"`
	UpdatedAt time.Time       `json:"updated_at"`
	Services  []PublicService `json:"services"`
	Incidents []PublicUpdate  `json:"incidents"`
}

// PublicService is one service's state.
type PublicService struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// PublicUpdate is an open incident as the public sees it: no title, no
// alert, no timeline, only the notes marked public.
type PublicUpdate struct {
	ID       int64        `json:"id"`
	Service  string       `json:"service,omitempty"`
	State    string       `json:"state"`
	Severity string       `json:"severity"`
	Since    time.Time    `json:"since"`
	Notes    []PublicNote `json:"notes"`
}

// PublicNote is a note marked public.
type PublicNote struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// Status is the status page's content now: a service with an open P0
// incident is down, one with any other open incident degraded.
func (m *Manager) Status(ctx context.Context) (*PublicStatus, error) {
	_, cfg := m.settings()
	out := &PublicStatus{Title: cfg.Project, UpdatedAt: m.now().UTC(), Services: []PublicService{}, Incidents: []PublicUpdate{}}
	if sp := statusPage(cfg); sp != nil && sp.Title != "" {
		out.Title = sp.Title
	}
	if out.Title == "" {
		out.Title = "Status"
	}
	open, err := m.st.ListIncidents(ctx, store.IncidentFilter{States: OpenStates()})
	if err != nil {
		return nil, err
	}
	state := map[string]string{}
	for _, rec := range open {
		s := Degraded
		if rec.Severity == "P0" {
			s = Down
		}
		if state[rec.Service] != Down {
			state[rec.Service] = s
		}
		u := PublicUpdate{ID: rec.ID, Service: rec.Service, State: rec.State, Severity: rec.Severity, Since: rec.OpenedAt, Notes: []PublicNote{}}
		for _, e := range m.publicNotes(ctx, rec.ID) {
			u.Notes = append(u.Notes, PublicNote{Time: e.Time, Text: e.Text})
		}
		out.Incidents = append(out.Incidents, u)
	}
	for _, name := range cfg.ServiceOrder {
		s := state[name]
		if s == "" {
			s = Operational
		}
		out.Services = append(out.Services, PublicService{Name: name, State: s})
	}
	return out, nil
}

func statusPage(c *config.Config) *config.StatusPage {
	if c == nil || c.Incidents == nil {
		return nil
	}
	return c.Incidents.StatusPage
}

var statusHTML = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
li{list-style:none;padding:.4rem 0;border-bottom:1px solid #eee}.operational{color:#1a7f37}.degraded{color:#9a6700}.down{color:#cf222e}
.note{margin:.3rem 0 .3rem 1rem}small{color:#666}</style></head>
<body><h1>{{.Title}}</h1>
<ul>{{range .Services}}<li><strong>{{.Name}}</strong>: <span class="{{.State}}">{{.State}}</span></li>{{end}}</ul>
{{if .Incidents}}<h2>Open incidents</h2>{{range .Incidents}}<div><h3>Incident #{{.ID}}{{if .Service}} affecting {{.Service}}{{end}}</h3>
<small>since {{ts .Since}}, {{.State}}</small>{{if .Notes}}{{range .Notes}}<p class="note"><small>{{ts .Time}}</small><br>{{.Text}}</p>{{end}}{{else}}<p class="note">We are looking into it.</p>{{end}}</div>{{end}}
{{else}}<p>No open incidents.</p>{{end}}
<p><small>Updated {{ts .UpdatedAt}}</small></p></body></html>
`))

// StatusPage serves the public status page: HTML at any path, JSON at a
// path ending in status.json. It answers GET and HEAD only, reads
// nothing but Status, and is served on a listener of its own that the
// proxy routes the status page's route to, never beside the API.
func (m *Manager) StatusPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		st, err := m.Status(r.Context())
		if err != nil {
			m.log.Warn("status page", "err", err)
			http.Error(w, "status unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(r.URL.Path, "status.json") {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(st)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		_ = statusHTML.Execute(w, st)
	})
}
