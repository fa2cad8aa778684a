package incident

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/endpoint"
)

// Answers and parameters of the incident API.
type (
	// IncidentsResponse is GET /api/incidents.
	IncidentsResponse struct {
		Incidents []Incident `json:"incidents"`
	}
	// IDParams names one incident (or runbook run) by its number.
	IDParams struct {
		ID string `path:"id" doc:"the incident's number"`
	}
	// TokenParams acknowledge an incident from a notification's link.
	TokenParams struct {
		ID    string `path:"id" doc:"the incident's number"`
		Token string `query:"token" doc:"the token of the notification's acknowledgement link (a missing or wrong one is 401)"`
		By    string `query:"by" doc:"who acknowledges, for the record"`
	}
	// RunbookParams names a runbook.
	RunbookParams struct {
		Name string `path:"name" doc:"the runbook's name: runbooks/NAME.md, or one tug ships"`
	}
	// StepParams name a step of a runbook run.
	StepParams struct {
		ID   string `path:"id" doc:"the run's number"`
		Step string `path:"step" doc:"the step's number, from 1: the run's next step"`
	}
	// RunbooksResponse is GET /api/runbooks.
	RunbooksResponse struct {
		Runbooks []RunbookInfo `json:"runbooks"`
	}
	// RunbookInfo is a runbook in the list.
	RunbookInfo struct {
		Name    string `json:"name"`
		Title   string `json:"title"`
		Path    string `json:"path"`
		Default bool   `json:"default,omitempty"`
		Steps   int    `json:"steps"`
		// Error says why it does not parse.
		Error string `json:"error,omitempty"`
	}
	// OncallResponse is GET /api/oncall.
	OncallResponse struct {
		At        time.Time `json:"at"`
		Rotations []Oncall  `json:"rotations"`
	}
)

// The incident API's operations.
var (
	OpIncidents = endpoint.Declare[ListParams, endpoint.None, IncidentsResponse](
		http.MethodGet, "/api/incidents", endpoint.Viewer, "Incidents, newest first, with their state and times.")
	OpOpen = endpoint.Declare[endpoint.None, OpenRequest, Incident](
		http.MethodPost, "/api/incidents", endpoint.Deployer, "Open an incident by hand; its escalation's first level is paged.")
	OpShow = endpoint.Declare[IDParams, endpoint.None, Incident](
		http.MethodGet, "/api/incidents/{id}", endpoint.Viewer, "One incident with its timeline: alerts, changes, log lines, notifications, actions, runbook steps, notes.")
	OpAck = endpoint.Declare[IDParams, AckRequest, Incident](
		http.MethodPost, "/api/incidents/{id}/ack", endpoint.Deployer, "Acknowledge an incident (and triage it: severity, impact); escalation stops.").OptionalBody()
	OpAckLink = endpoint.Declare[TokenParams, endpoint.None, Incident](
		http.MethodPost, "/api/incidents/{id}/ack-link", endpoint.Deployer, "Acknowledge an incident from a notification's link: its token is the credential.").Signed()
	OpAckPage = endpoint.Declare[TokenParams, endpoint.None, string](
		http.MethodGet, "/api/incidents/{id}/ack-link", endpoint.Viewer,
		"The page a notification's acknowledgement link opens: the incident and a button that acknowledges it by a POST to the link. Opening it changes nothing (mail scanners and link previews open links).").Signed()
	OpMitigate = endpoint.Declare[IDParams, ChangeRequest, Incident](
		http.MethodPost, "/api/incidents/{id}/mitigate", endpoint.Deployer, "Record that an incident is being mitigated.").OptionalBody()
	OpResolve = endpoint.Declare[IDParams, ChangeRequest, Incident](
		http.MethodPost, "/api/incidents/{id}/resolve", endpoint.Deployer, "Resolve an incident; its channels hear of it.").OptionalBody()
	OpNote = endpoint.Declare[IDParams, NoteRequest, Incident](
		http.MethodPost, "/api/incidents/{id}/notes", endpoint.Deployer, "Add a note to an incident's timeline; a public one shows on the status page.")
	OpPostmortem = endpoint.Declare[IDParams, endpoint.None, Postmortem](
		http.MethodGet, "/api/incidents/{id}/postmortem", endpoint.Viewer, "A blameless post-mortem draft of an incident, in Markdown, with its measured impact.")
	OpClose = endpoint.Declare[IDParams, ChangeRequest, Incident](
		http.MethodPost, "/api/incidents/{id}/close", endpoint.Deployer, "Close a resolved incident: its post-mortem is done, its lifecycle ends.").OptionalBody()
	OpRunbooks = endpoint.Declare[endpoint.None, endpoint.None, RunbooksResponse](
		http.MethodGet, "/api/runbooks", endpoint.Viewer, "The project's runbooks and the ones tug ships.")
	OpRunbook = endpoint.Declare[RunbookParams, endpoint.None, Runbook](
		http.MethodGet, "/api/runbooks/{name}", endpoint.Viewer, "A runbook with its steps.")
	OpStartRun = endpoint.Declare[RunbookParams, RunRequest, Run](
		http.MethodPost, "/api/runbooks/{name}/runs", endpoint.Deployer, "Start running a runbook (its steps run one at a time, by the next operation).").OptionalBody()
	OpRunStep = endpoint.Declare[StepParams, StepRequest, Run](
		http.MethodPost, "/api/runbook-runs/{id}/steps/{step}", endpoint.Deployer, "Run (or skip) the next step of a runbook run and record it; a failing step ends the run.").OptionalBody()
	OpGetRun = endpoint.Declare[IDParams, endpoint.None, Run](
		http.MethodGet, "/api/runbook-runs/{id}", endpoint.Viewer, "A runbook run with each step's command, output, exit code and duration.")
	OpOncall = endpoint.Declare[endpoint.None, endpoint.None, OncallResponse](
		http.MethodGet, "/api/oncall", endpoint.Viewer, "Who every on-call rotation has on call now and next.")
)

// Ops binds the incident API to the manager live returns (nil answers
// ErrNoIncidents).
func Ops(live func() *Manager) []endpoint.Op {
	get := func() (*Manager, error) {
		if live == nil {
			return nil, ErrNoIncidents
		}
		if m := live(); m != nil {
			return m, nil
		}
		return nil, ErrNoIncidents
	}
	withID := func(fn func(ctx context.Context, m *Manager, id int64) (*Incident, error)) func(context.Context, IDParams, endpoint.None) (Incident, error) {
		return func(ctx context.Context, p IDParams, _ endpoint.None) (Incident, error) {
			return one(ctx, get, p.ID, fn)
		}
	}
	return []endpoint.Op{
		OpIncidents.JSON(func(ctx context.Context, p ListParams, _ endpoint.None) (IncidentsResponse, error) {
			m, err := get()
			if err != nil {
				return IncidentsResponse{}, err
			}
			list, err := m.List(ctx, p)
			return IncidentsResponse{Incidents: list}, err
		}),
		OpOpen.JSON(func(ctx context.Context, _ endpoint.None, req OpenRequest) (Incident, error) {
			m, err := get()
			if err != nil {
				return Incident{}, err
			}
			return deref(m.Open(ctx, req))
		}),
		OpShow.JSON(withID(func(ctx context.Context, m *Manager, id int64) (*Incident, error) { return m.Show(ctx, id) })),
		OpAck.JSON(func(ctx context.Context, p IDParams, req AckRequest) (Incident, error) {
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) { return m.Ack(ctx, id, req) })
		}),
		OpAckLink.JSON(func(ctx context.Context, p TokenParams, _ endpoint.None) (Incident, error) {
			// The token is the credential: without one, or for an
			// incident number no token can name, the answer is 401
			// before anything else is looked at.
			if _, err := strconv.ParseInt(p.ID, 10, 64); p.Token == "" || err != nil {
				return Incident{}, fmt.Errorf("%w for incident %q", ErrBadToken, p.ID)
			}
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) {
				return m.AckWithToken(ctx, id, p.Token, p.By)
			})
		}),
		OpAckPage.Write("text/html; charset=utf-8", func(w http.ResponseWriter, r *http.Request, p TokenParams) error {
			id, err := strconv.ParseInt(p.ID, 10, 64)
			if p.Token == "" || err != nil {
				return fmt.Errorf("%w for incident %q", ErrBadToken, p.ID)
			}
			m, err := get()
			if err != nil {
				return err
			}
			inc, err := m.AckLinkIncident(r.Context(), id, p.Token)
			if err != nil {
				return err
			}
			return writeAckPage(w, r, inc)
		}),
		OpMitigate.JSON(func(ctx context.Context, p IDParams, req ChangeRequest) (Incident, error) {
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) { return m.Mitigate(ctx, id, req) })
		}),
		OpResolve.JSON(func(ctx context.Context, p IDParams, req ChangeRequest) (Incident, error) {
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) { return m.Resolve(ctx, id, req) })
		}),
		OpNote.JSON(func(ctx context.Context, p IDParams, req NoteRequest) (Incident, error) {
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) { return m.Note(ctx, id, req) })
		}),
		OpPostmortem.JSON(func(ctx context.Context, p IDParams, _ endpoint.None) (Postmortem, error) {
			m, id, err := manID(get, p.ID)
			if err != nil {
				return Postmortem{}, err
			}
			pm, err := m.Postmortem(ctx, id)
			if err != nil {
				return Postmortem{}, err
			}
			return *pm, nil
		}),
		OpClose.JSON(func(ctx context.Context, p IDParams, req ChangeRequest) (Incident, error) {
			return one(ctx, get, p.ID, func(ctx context.Context, m *Manager, id int64) (*Incident, error) {
				return m.ClosePostmortem(ctx, id, req)
			})
		}),
		OpRunbooks.JSON(func(ctx context.Context, _, _ endpoint.None) (RunbooksResponse, error) {
			m, err := get()
			if err != nil {
				return RunbooksResponse{}, err
			}
			return RunbooksResponse{Runbooks: ListRunbooks(m.o.Dir)}, nil
		}),
		OpRunbook.JSON(func(ctx context.Context, p RunbookParams, _ endpoint.None) (Runbook, error) {
			m, err := get()
			if err != nil {
				return Runbook{}, err
			}
			rb, err := LoadRunbook(m.o.Dir, p.Name)
			if err != nil {
				return Runbook{}, err
			}
			return *rb, nil
		}),
		OpStartRun.JSON(func(ctx context.Context, p RunbookParams, req RunRequest) (Run, error) {
			m, err := get()
			if err != nil {
				return Run{}, err
			}
			r, err := m.StartRun(ctx, p.Name, req)
			if err != nil {
				return Run{}, err
			}
			return *r, nil
		}),
		OpRunStep.JSON(func(ctx context.Context, p StepParams, req StepRequest) (Run, error) {
			m, id, err := manID(get, p.ID)
			if err != nil {
				return Run{}, err
			}
			n, err := strconv.Atoi(p.Step)
			if err != nil || n < 1 {
				return Run{}, fmt.Errorf("%w: step %q: want a step number from 1", ErrInvalid, p.Step)
			}
			r, err := m.RunStep(ctx, id, n, req)
			if err != nil {
				return Run{}, err
			}
			return *r, nil
		}),
		OpGetRun.JSON(func(ctx context.Context, p IDParams, _ endpoint.None) (Run, error) {
			m, id, err := manID(get, p.ID)
			if err != nil {
				return Run{}, err
			}
			r, err := m.GetRun(ctx, id)
			if err != nil {
				return Run{}, err
			}
			return *r, nil
		}),
		OpOncall.JSON(func(ctx context.Context, _, _ endpoint.None) (OncallResponse, error) {
			m, err := get()
			if err != nil {
				return OncallResponse{}, err
			}
			_, cfg := m.settings()
			at := m.now()
			rs, err := OncallAt(cfg, at)
			if rs == nil {
				rs = []Oncall{}
			}
			return OncallResponse{At: at, Rotations: rs}, err
		}),
	}
}

// ParseID reads an incident's (or run's) number: "7" or "#7".
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "#"), 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: %q is not an incident number (1, 2, ...)", ErrInvalid, s)
	}
	return id, nil
}

func manID(get func() (*Manager, error), s string) (*Manager, int64, error) {
	m, err := get()
	if err != nil {
		return nil, 0, err
	}
	id, err := ParseID(s)
	return m, id, err
}

func one(ctx context.Context, get func() (*Manager, error), s string, fn func(context.Context, *Manager, int64) (*Incident, error)) (Incident, error) {
	m, id, err := manID(get, s)
	if err != nil {
		return Incident{}, err
	}
	return deref(fn(ctx, m, id))
}

func deref(inc *Incident, err error) (Incident, error) {
	if err != nil || inc == nil {
		return Incident{}, err
	}
	return *inc, nil
}

// ListRunbooks lists the runbooks of dir/runbooks and the ones tug ships
// that the project does not override, by name.
func ListRunbooks(dir string) []RunbookInfo {
	names := DefaultRunbooks()
	if ents, err := os.ReadDir(filepath.Join(dir, RunbookDir)); err == nil {
		for _, e := range ents {
			if n, ok := strings.CutSuffix(e.Name(), ".md"); ok && !e.IsDir() && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	out := []RunbookInfo{}
	for _, n := range names {
		info := RunbookInfo{Name: n}
		rb, err := LoadRunbook(dir, n)
		if err != nil {
			info.Error = err.Error()
			info.Path = RunbookDir + "/" + n + ".md"
		} else {
			info.Title, info.Path, info.Default, info.Steps = rb.Title, rb.Path, rb.Default, len(rb.Steps)
		}
		out = append(out, info)
	}
	return out
}

// ackPage is what an acknowledgement link shows: the incident, and a
// form that posts to the link itself (its token and who in the query).
var ackPage = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Incident #{{.Inc.ID}}: acknowledge</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>Incident #{{.Inc.ID}}</h1>
<p><strong>{{.Inc.Title}}</strong></p>
<p>{{.Inc.Severity}}{{with .Inc.Service}} · {{.}}{{end}}{{with .Inc.Environment}} · {{.}}{{end}} · {{.Inc.State}}</p>
{{if .Inc.AcknowledgedAt}}<p>Acknowledged by {{.Inc.AcknowledgedBy}} at {{.Inc.AcknowledgedAt.UTC.Format "2006-01-02 15:04 UTC"}}.</p>
{{else}}<form method="post" action="{{.Action}}"><button type="submit">Acknowledge incident #{{.Inc.ID}}</button></form>
{{end}}</body></html>
`))

func writeAckPage(w http.ResponseWriter, r *http.Request, inc *Incident) error {
	var buf bytes.Buffer
	action := (&url.URL{Path: r.URL.Path, RawQuery: r.URL.RawQuery}).String()
	if err := ackPage.Execute(&buf, struct {
		Inc    *Incident
		Action string
	}{inc, action}); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	_, err := w.Write(buf.Bytes())
	return err
}
