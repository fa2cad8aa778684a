package incident

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/store"
)

// ListParams select incidents.
type ListParams struct {
	// State is a state, "open" (every open state) or "" (all).
	State   string `query:"state" doc:"open (detected, acknowledged or mitigating), one state, or empty for all"`
	Service string `query:"service" doc:"only this service's"`
	Limit   int    `query:"limit" doc:"at most this many, newest first (0: all)"`
}

// OpenRequest opens an incident by hand.
type OpenRequest struct {
	Title       string `json:"title"`
	Severity    string `json:"severity"`
	Service     string `json:"service,omitempty"`
	Environment string `json:"environment,omitempty"`
	By          string `json:"by,omitempty"`
}

// AckRequest acknowledges an incident and may triage it.
type AckRequest struct {
	By string `json:"by,omitempty"`
	// Severity and Impact triage it (both optional).
	Severity string `json:"severity,omitempty"`
	Impact   string `json:"impact,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// NoteRequest adds a note to an incident's timeline.
type NoteRequest struct {
	By   string `json:"by,omitempty"`
	Text string `json:"text"`
	// Public notes are the incident's updates on the status page.
	Public bool `json:"public,omitempty"`
}

// ChangeRequest moves an incident on (mitigating, resolved, closed).
type ChangeRequest struct {
	By   string `json:"by,omitempty"`
	Note string `json:"note,omitempty"`
}

func byOr(by string) string {
	if strings.TrimSpace(by) == "" {
		return "someone"
	}
	return by
}

// List returns the incidents p selects, newest first.
func (m *Manager) List(ctx context.Context, p ListParams) ([]Incident, error) {
	f := store.IncidentFilter{Service: p.Service, Limit: p.Limit}
	switch p.State {
	case "":
	case "open":
		f.States = OpenStates()
	case StateDetected, StateAcknowledged, StateMitigating, StateResolved, StateClosed:
		f.States = []string{p.State}
	default:
		return nil, fmt.Errorf("%w: state %q: want open, %s", ErrInvalid, p.State,
			strings.Join([]string{StateDetected, StateAcknowledged, StateMitigating, StateResolved, StateClosed}, ", "))
	}
	if p.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d: want a whole number >= 0", ErrInvalid, p.Limit)
	}
	recs, err := m.st.ListIncidents(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]Incident, 0, len(recs))
	for i := range recs {
		inc, err := fromRecord(&recs[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *inc)
	}
	return out, nil
}

// Show returns an incident with its timeline; for an open incident it
// gathers the newest context first.
func (m *Manager) Show(ctx context.Context, id int64) (*Incident, error) {
	rec, err := m.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if isOpen(rec.State) {
		m.gather(ctx, id)
		if rec, err = m.get(ctx, id); err != nil {
			return nil, err
		}
	}
	inc, err := fromRecord(rec)
	if err != nil {
		return nil, err
	}
	es, err := m.st.IncidentEntries(ctx, id)
	if err != nil {
		return nil, err
	}
	inc.Timeline = make([]Entry, 0, len(es))
	for _, e := range es {
		inc.Timeline = append(inc.Timeline, fromEntry(e))
	}
	return inc, nil
}

func (m *Manager) get(ctx context.Context, id int64) (*store.Incident, error) {
	rec, err := m.st.GetIncident(ctx, id)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%w: incident %d", ErrNotFound, id)
		}
		return nil, err
	}
	return rec, nil
}

// Open opens an incident by hand; its channels are paged as for one
// opened by an alert.
func (m *Manager) Open(ctx context.Context, req OpenRequest) (*Incident, error) {
	title := strings.TrimSpace(req.Title)
	if title == "" {
		return nil, fmt.Errorf("%w: title: required, e.g. \"checkout answers 502\"", ErrInvalid)
	}
	sev, ok := alert.Severity(req.Severity)
	if !ok {
		return nil, fmt.Errorf("%w: severity %q: want P0, P1, P2 or P3", ErrInvalid, req.Severity)
	}
	_, cfg := m.settings()
	if req.Service != "" && cfg.Services[req.Service] == nil {
		var names []string
		for _, n := range cfg.ServiceOrder {
			names = append(names, n)
		}
		return nil, fmt.Errorf("%w: service %q: not in tug.yaml (services: %s)", ErrInvalid, req.Service, strings.Join(names, ", "))
	}
	now := m.now()
	by := byOr(req.By)
	rec := &store.Incident{Title: title, Severity: sev, Service: req.Service, Environment: req.Environment, State: StateDetected, OpenedAt: now}
	encodeData(rec, data{OpenedBy: by})
	if err := m.st.CreateIncident(ctx, rec, []store.IncidentEntry{
		entry(now, KindState, "", fmt.Sprintf("opened by %s: %s", by, title), entryData{Source: by, Who: by}),
	}); err != nil {
		return nil, err
	}
	m.log.Warn("incident opened", "incident", rec.ID, "severity", sev, "service", req.Service, "by", by)
	m.gather(ctx, rec.ID)
	m.page(ctx, rec.ID, "opened")
	return m.Show(ctx, rec.ID)
}

// Ack acknowledges an incident, triaging it with a severity and impact if
// given. A second acknowledgement (two people at once) is recorded too;
// the state stays acknowledged (or further on).
func (m *Manager) Ack(ctx context.Context, id int64, req AckRequest) (*Incident, error) {
	var sev string
	if req.Severity != "" {
		var ok bool
		if sev, ok = alert.Severity(req.Severity); !ok {
			return nil, fmt.Errorf("%w: severity %q: want P0, P1, P2 or P3", ErrInvalid, req.Severity)
		}
	}
	by := byOr(req.By)
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		var out []store.IncidentEntry
		switch rec.State {
		case StateDetected:
			rec.State, rec.AcknowledgedAt, d.AcknowledgedBy = StateAcknowledged, now, by
			text := fmt.Sprintf("acknowledged by %s after %s", by, round(now.Sub(rec.OpenedAt)))
			out = append(out, entry(now, KindState, "", withComment(text, req.Comment), entryData{Source: by, Who: by}))
		case StateAcknowledged, StateMitigating:
			text := fmt.Sprintf("acknowledged by %s too (already acknowledged by %s at %s)", by, d.AcknowledgedBy, rec.AcknowledgedAt.Format(time.RFC3339))
			out = append(out, entry(now, KindState, "", withComment(text, req.Comment), entryData{Source: by, Who: by}))
		default:
			return nil, fmt.Errorf("%w: incident %d is %s", ErrState, id, rec.State)
		}
		if sev != "" && sev != rec.Severity {
			out = append(out, entry(now, KindState, "", fmt.Sprintf("severity set from %s to %s by %s", rec.Severity, sev, by), entryData{Source: by, Who: by}))
			rec.Severity = sev
		}
		if imp := strings.TrimSpace(req.Impact); imp != "" {
			d.Impact = imp
			out = append(out, entry(now, KindState, "", fmt.Sprintf("impact (by %s): %s", by, imp), entryData{Source: by, Who: by}))
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("incident acknowledged", "incident", id, "by", by)
	return fromRecord(rec)
}

// AckWithToken is Ack from a notification's link: token must be the
// incident's (AckToken).
func (m *Manager) AckWithToken(ctx context.Context, id int64, token, by string) (*Incident, error) {
	if _, err := m.get(ctx, id); err != nil {
		return nil, err
	}
	if err := m.checkToken(ctx, id, token); err != nil {
		return nil, err
	}
	if strings.TrimSpace(by) == "" {
		by = "a notification's link"
	}
	return m.Ack(ctx, id, AckRequest{By: by})
}

// AckLinkIncident is the incident an acknowledgement link names, once
// its token is checked, for the page the link opens; it changes nothing.
func (m *Manager) AckLinkIncident(ctx context.Context, id int64, token string) (*Incident, error) {
	if _, err := m.get(ctx, id); err != nil {
		return nil, err
	}
	if err := m.checkToken(ctx, id, token); err != nil {
		return nil, err
	}
	return m.Show(ctx, id)
}

func withComment(text, comment string) string {
	if c := strings.TrimSpace(comment); c != "" {
		return text + ": " + c
	}
	return text
}

// Mitigate records that the incident is being mitigated.
func (m *Manager) Mitigate(ctx context.Context, id int64, req ChangeRequest) (*Incident, error) {
	return m.mitigating(ctx, id, byOr(req.By), req.Note)
}

// mitigating moves an open incident to mitigating; an incident already
// mitigating gets the note only.
func (m *Manager) mitigating(ctx context.Context, id int64, by, note string) (*Incident, error) {
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		switch rec.State {
		case StateDetected, StateAcknowledged:
			rec.State, rec.MitigatedAt = StateMitigating, now
			return []store.IncidentEntry{entry(now, KindState, "", withComment(fmt.Sprintf("mitigating (by %s, %s after detection)", by, round(now.Sub(rec.OpenedAt))), note),
				entryData{Source: by, Who: by})}, nil
		case StateMitigating:
			if strings.TrimSpace(note) == "" || by == Tug {
				return nil, nil
			}
			return []store.IncidentEntry{entry(now, KindNote, "", withComment("mitigating (by "+by+")", note), entryData{Source: by, Who: by})}, nil
		}
		return nil, fmt.Errorf("%w: incident %d is %s", ErrState, id, rec.State)
	})
	if err != nil {
		if by == Tug {
			return nil, nil // resolved before the action ended: nothing to say
		}
		return nil, err
	}
	return fromRecord(rec)
}

// Resolve resolves an open incident by hand.
func (m *Manager) Resolve(ctx context.Context, id int64, req ChangeRequest) (*Incident, error) {
	by := byOr(req.By)
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		if !isOpen(rec.State) {
			return nil, fmt.Errorf("%w: incident %d is %s", ErrState, id, rec.State)
		}
		rec.State, rec.ResolvedAt, d.ResolvedBy = StateResolved, now, by
		return []store.IncidentEntry{entry(now, KindState, "", withComment(fmt.Sprintf("resolved by %s (time to resolve %s)", by, round(now.Sub(rec.OpenedAt))), req.Note),
			entryData{Source: by, Who: by})}, nil
	})
	if err != nil {
		return nil, err
	}
	m.log.Info("incident resolved", "incident", id, "by", by)
	m.gather(ctx, id)
	m.page(ctx, id, "resolved")
	return fromRecord(rec)
}

// Note adds a note to an incident's timeline (any state).
func (m *Manager) Note(ctx context.Context, id int64, req NoteRequest) (*Incident, error) {
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return nil, fmt.Errorf("%w: text: an empty note", ErrInvalid)
	}
	by := byOr(req.By)
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		return []store.IncidentEntry{entry(now, KindNote, "", text, entryData{Source: by, Who: by, Public: req.Public})}, nil
	})
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}

// ClosePostmortem ends a resolved incident's lifecycle: its post-mortem
// is done.
func (m *Manager) ClosePostmortem(ctx context.Context, id int64, req ChangeRequest) (*Incident, error) {
	by := byOr(req.By)
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		if rec.State != StateResolved {
			return nil, fmt.Errorf("%w: incident %d is %s; a post-mortem is closed once it is resolved", ErrState, id, rec.State)
		}
		rec.State, rec.ClosedAt, d.ClosedBy = StateClosed, now, by
		return []store.IncidentEntry{entry(now, KindState, "", withComment("post-mortem done, closed by "+by, req.Note), entryData{Source: by, Who: by})}, nil
	})
	if err != nil {
		return nil, err
	}
	return fromRecord(rec)
}

// publicNotes are the public notes of an incident, newest first.
func (m *Manager) publicNotes(ctx context.Context, id int64) []Entry {
	es, err := m.st.IncidentEntries(ctx, id)
	if err != nil {
		return nil
	}
	var out []Entry
	for _, e := range es {
		if en := fromEntry(e); en.Public {
			out = append(out, en)
		}
	}
	slices.Reverse(out)
	return out
}
