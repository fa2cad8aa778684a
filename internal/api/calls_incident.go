package api

import (
	"context"
	"strconv"

	"github.com/tugdev/tug/internal/incident"
)

// Incidents lists incidents, newest first.
func (c *Client) Incidents(ctx context.Context, p incident.ListParams) ([]incident.Incident, error) {
	r, err := call(ctx, c, incident.OpIncidents, p, none{})
	return r.Incidents, err
}

// OpenIncident opens an incident by hand.
func (c *Client) OpenIncident(ctx context.Context, req incident.OpenRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpOpen, none{}, req)
	return &r, err
}

// Incident is one incident with its timeline.
func (c *Client) Incident(ctx context.Context, id int64) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpShow, incidentID(id), none{})
	return &r, err
}

// AckIncident acknowledges (and triages) an incident.
func (c *Client) AckIncident(ctx context.Context, id int64, req incident.AckRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpAck, incidentID(id), req)
	return &r, err
}

// AckIncidentLink acknowledges an incident with the token of a
// notification's link.
func (c *Client) AckIncidentLink(ctx context.Context, id int64, token, by string) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpAckLink, incident.TokenParams{ID: strconv.FormatInt(id, 10), Token: token, By: by}, none{})
	return &r, err
}

// MitigateIncident records that an incident is being mitigated.
func (c *Client) MitigateIncident(ctx context.Context, id int64, req incident.ChangeRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpMitigate, incidentID(id), req)
	return &r, err
}

// ResolveIncident resolves an incident.
func (c *Client) ResolveIncident(ctx context.Context, id int64, req incident.ChangeRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpResolve, incidentID(id), req)
	return &r, err
}

// NoteIncident adds a note to an incident's timeline.
func (c *Client) NoteIncident(ctx context.Context, id int64, req incident.NoteRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpNote, incidentID(id), req)
	return &r, err
}

// Postmortem is an incident's post-mortem draft.
func (c *Client) Postmortem(ctx context.Context, id int64) (*incident.Postmortem, error) {
	r, err := call(ctx, c, incident.OpPostmortem, incidentID(id), none{})
	return &r, err
}

// CloseIncident closes a resolved incident: its post-mortem is done.
func (c *Client) CloseIncident(ctx context.Context, id int64, req incident.ChangeRequest) (*incident.Incident, error) {
	r, err := call(ctx, c, incident.OpClose, incidentID(id), req)
	return &r, err
}

// Runbooks lists the runbooks the server knows.
func (c *Client) Runbooks(ctx context.Context) ([]incident.RunbookInfo, error) {
	r, err := call(ctx, c, incident.OpRunbooks, none{}, none{})
	return r.Runbooks, err
}

// Runbook is one runbook with its steps.
func (c *Client) Runbook(ctx context.Context, name string) (*incident.Runbook, error) {
	r, err := call(ctx, c, incident.OpRunbook, incident.RunbookParams{Name: name}, none{})
	return &r, err
}

// StartRunbook starts a run of runbook name.
func (c *Client) StartRunbook(ctx context.Context, name string, req incident.RunRequest) (*incident.Run, error) {
	r, err := call(ctx, c, incident.OpStartRun, incident.RunbookParams{Name: name}, req)
	return &r, err
}

// RunbookStep runs (or skips) step n of run id.
func (c *Client) RunbookStep(ctx context.Context, id int64, n int, req incident.StepRequest) (*incident.Run, error) {
	r, err := call(ctx, c, incident.OpRunStep, incident.StepParams{ID: strconv.FormatInt(id, 10), Step: strconv.Itoa(n)}, req)
	return &r, err
}

// RunbookRun is a runbook run with its steps' results.
func (c *Client) RunbookRun(ctx context.Context, id int64) (*incident.Run, error) {
	r, err := call(ctx, c, incident.OpGetRun, incidentID(id), none{})
	return &r, err
}

// Oncall says who every rotation has on call now and next.
func (c *Client) Oncall(ctx context.Context) (*incident.OncallResponse, error) {
	r, err := call(ctx, c, incident.OpOncall, none{}, none{})
	return &r, err
}

func incidentID(id int64) incident.IDParams { return incident.IDParams{ID: strconv.FormatInt(id, 10)} }
