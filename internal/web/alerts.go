package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/endpoint"
	"github.com/tugdev/tug/internal/incident"
)

func (d *Handler) alertRoutes(m *http.ServeMux) {
	m.Handle("GET /alerts", &liveHandler{d: d, tmpl: "alerts", parts: []string{"alerts"}, build: d.alerts})
	m.HandleFunc("POST /alerts/{id}/ack", d.ackAlert)
	m.HandleFunc("POST /silences", d.addSilence)
	m.HandleFunc("POST /silences/{id}/expire", d.expireSilence)
	m.Handle("GET /incidents", &liveHandler{d: d, tmpl: "incidents", parts: []string{"incidents"}, build: d.incidents})
	m.Handle("GET /incidents/{id}", &liveHandler{d: d, tmpl: "incident", parts: []string{"incident"}, build: d.incident})
	m.HandleFunc("POST /incidents/{id}/ack", d.ackIncident)
}

type alertsData struct {
	Alerts   []*alert.Alert
	Silences []alert.Silence
	Error    string
	Flash    string
	// Matchers pre-fill the silence form (from an alert's "silence" link).
	Matchers string
}

// alerts lists firing and pending alerts and the silences.
func (d *Handler) alerts(r *http.Request) (string, any, error) {
	ctx := r.Context()
	data := alertsData{Flash: r.URL.Query().Get("flash"), Matchers: r.URL.Query().Get("matchers"), Error: r.URL.Query().Get("error")}
	var err error
	if data.Alerts, err = d.client.Alerts(ctx); err != nil {
		return "", nil, err
	}
	if data.Silences, err = d.client.Silences(ctx); err != nil {
		return "", nil, err
	}
	return "Alerts", data, nil
}

func (d *Handler) ackAlert(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := d.client.Ack(r.Context(), id, alert.AckRequest{By: actor(r), Comment: r.PostForm.Get("comment")}); err != nil {
		d.fail(w, r, err)
		return
	}
	d.backTo(w, r, "/alerts", url.Values{"flash": {"alert " + id + " acknowledged"}})
}

// addSilence creates a silence; bad matchers or a bad duration come back
// on the form.
func (d *Handler) addSilence(w http.ResponseWriter, r *http.Request) {
	req := alert.SilenceRequest{Matchers: r.PostForm.Get("matchers"), Duration: r.PostForm.Get("duration"), Comment: r.PostForm.Get("comment"), By: actor(r)}
	s, err := d.client.AddSilence(r.Context(), req)
	if err != nil {
		if st := statusOf(err); st == http.StatusBadRequest {
			d.backTo(w, r, "/alerts", url.Values{"error": {queryError(err)}, "matchers": {req.Matchers}})
			return
		}
		d.fail(w, r, err)
		return
	}
	d.backTo(w, r, "/alerts", url.Values{"flash": {"silence " + s.ID + " created"}})
}

func (d *Handler) expireSilence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := d.client.ExpireSilence(r.Context(), id); err != nil {
		d.fail(w, r, err)
		return
	}
	d.backTo(w, r, "/alerts", url.Values{"flash": {"silence " + id + " expired"}})
}

type incidentsData struct {
	State     string
	Incidents []incident.Incident
}

// incidents lists incidents, the open ones unless ?state= says otherwise.
func (d *Handler) incidents(r *http.Request) (string, any, error) {
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	if state == "all" {
		state = ""
	}
	list, err := d.client.Incidents(r.Context(), incident.ListParams{State: state, Limit: 100})
	if err != nil {
		return "", nil, err
	}
	return "Incidents", incidentsData{State: r.URL.Query().Get("state"), Incidents: list}, nil
}

type incidentData struct {
	Incident *incident.Incident
	Flash    string
}

// incident is one incident with its timeline.
func (d *Handler) incident(r *http.Request) (string, any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return "", nil, errNotFoundf("no incident %q", r.PathValue("id"))
	}
	inc, err := d.client.Incident(r.Context(), id)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("Incident %d", inc.ID), incidentData{Incident: inc, Flash: r.URL.Query().Get("flash")}, nil
}

func (d *Handler) ackIncident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		d.fail(w, r, errNotFoundf("no incident %q", r.PathValue("id")))
		return
	}
	if _, err := d.client.AckIncident(r.Context(), id, incident.AckRequest{By: actor(r), Comment: r.PostForm.Get("comment")}); err != nil {
		d.fail(w, r, err)
		return
	}
	d.backTo(w, r, "/incidents/"+strconv.FormatInt(id, 10), url.Values{"flash": {"acknowledged"}})
}

// statusOf is the HTTP status of an API error, 0 for another error.
func statusOf(err error) int {
	var e *endpoint.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}
