package incident

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tugdev/tug/internal/store"
)

// States of an incident, in lifecycle order.
const (
	StateDetected     = "detected"
	StateAcknowledged = "acknowledged"
	StateMitigating   = "mitigating"
	StateResolved     = "resolved"
	// StateClosed: the post-mortem is done; the lifecycle has ended.
	StateClosed = "closed"
)

// OpenStates are the states of an incident still being worked.
func OpenStates() []string { return []string{StateDetected, StateAcknowledged, StateMitigating} }

// Kinds of timeline entries.
const (
	KindAlert        = "alert"
	KindDeploy       = "deploy"
	KindRollback     = "rollback"
	KindApproval     = "approval"
	KindConfig       = "config"
	KindFlag         = "flag"
	KindRestart      = "restart"
	KindCrashLoop    = "crash_loop"
	KindScale        = "scale"
	KindLog          = "log"
	KindNotification = "notification"
	KindEscalation   = "escalation"
	KindRemediation  = "remediation"
	KindRunbookStep  = "runbook_step"
	KindNote         = "note"
	KindState        = "state"
	KindCause        = "suspected_cause"
)

// Tug is who the timeline names for what tug did by itself.
const Tug = "tug"

// Sentinel errors; the API maps them to codes.
var (
	// ErrInvalid: bad input (a severity, an empty title, a bad token).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound: no such incident, runbook or runbook run.
	ErrNotFound = errors.New("not found")
	// ErrState: the transition is not allowed from the incident's state
	// (resolving a closed incident, closing an open one).
	ErrState = errors.New("not allowed in this state")
	// ErrBadToken: an acknowledgement link whose token does not match.
	ErrBadToken = errors.New("bad or missing acknowledgement token")
	// ErrRunEnded: a step of a runbook run that stopped or finished.
	ErrRunEnded = errors.New("runbook run has ended")
	// ErrRunbook wraps every problem of a runbook file, positioned.
	ErrRunbook = errors.New("bad runbook")
	// ErrNoIncidents answers the incident API of a server without the
	// incident room.
	ErrNoIncidents = errors.New("this server handles no incidents")
)

// Incident is one incident as the API and the CLI show it.
type Incident struct {
	ID          int64  `json:"id"`
	State       string `json:"state"`
	Severity    string `json:"severity"`
	Service     string `json:"service"`
	Environment string `json:"environment,omitempty"`
	Title       string `json:"title"`
	// OpenedAt is when tug detected it (or someone opened it).
	OpenedAt       time.Time  `json:"opened_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	MitigatedAt    *time.Time `json:"mitigated_at"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	ClosedAt       *time.Time `json:"closed_at"`
	OpenedBy       string     `json:"opened_by"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	ClosedBy       string     `json:"closed_by,omitempty"`
	Impact         string     `json:"impact,omitempty"`
	// TimeToAcknowledge, TimeToMitigate and TimeToResolve are seconds
	// from OpenedAt; null until the incident gets there.
	TimeToAcknowledge *float64 `json:"time_to_acknowledge_seconds"`
	TimeToMitigate    *float64 `json:"time_to_mitigate_seconds"`
	TimeToResolve     *float64 `json:"time_to_resolve_seconds"`
	// Level is how many escalation levels have been paged.
	Level          int        `json:"escalation_level"`
	Alerts         []AlertRef `json:"alerts"`
	SuspectedCause *Cause     `json:"suspected_cause,omitempty"`
	// Timeline is filled by Show only.
	Timeline []Entry `json:"timeline,omitempty"`
}

// AlertRef is an alert of an incident.
type AlertRef struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Severity string  `json:"severity"`
	State    string  `json:"state"`
	Value    float64 `json:"value"`
	// ActiveAt is when its condition started to hold, StartsAt when it
	// fired, EndsAt when it resolved.
	ActiveAt time.Time         `json:"active_at,omitzero"`
	StartsAt time.Time         `json:"starts_at"`
	EndsAt   time.Time         `json:"ends_at,omitzero"`
	Labels   map[string]string `json:"labels,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
}

// Cause is the change tug suspects started an incident: the deploy of
// the service that started shortly before its first alert.
type Cause struct {
	Kind    string    `json:"kind"`
	Release string    `json:"release,omitempty"`
	Time    time.Time `json:"time"`
	Text    string    `json:"text"`
}

// Entry is one line of an incident's timeline.
type Entry struct {
	Time time.Time `json:"time"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
	// Source is where tug learned it: alerts, releases, config, flags,
	// logs, runtime, notifications, runbook, remediation, or a person.
	Source string `json:"source,omitempty"`
	// Who did it: a person, or "tug".
	Who string `json:"who,omitempty"`
	// Public entries (notes marked public) show on the status page.
	Public bool `json:"public,omitempty"`
	// Details are the entry's particulars (a runbook step's command,
	// output, exit code and duration; an alert's value).
	Details map[string]any `json:"details,omitempty"`
}

// data is the part of an incident kept as JSON in the store.
type data struct {
	OpenedBy       string     `json:"opened_by,omitempty"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	ResolvedBy     string     `json:"resolved_by,omitempty"`
	ClosedBy       string     `json:"closed_by,omitempty"`
	Impact         string     `json:"impact,omitempty"`
	Alerts         []AlertRef `json:"alerts,omitempty"`
	Cause          *Cause     `json:"cause,omitempty"`
	// Auto: opened by an alert (it may resolve itself).
	Auto bool `json:"auto,omitempty"`
	// Channels are the channels told about the incident so far.
	Channels []string `json:"channels,omitempty"`
}

// entryData is the part of an entry kept as JSON in the store.
type entryData struct {
	Source  string         `json:"source,omitempty"`
	Who     string         `json:"who,omitempty"`
	Public  bool           `json:"public,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

func decodeData(rec *store.Incident) (data, error) {
	var d data
	if rec.Data != "" {
		if err := json.Unmarshal([]byte(rec.Data), &d); err != nil {
			return d, fmt.Errorf("incident %d: bad stored data: %w", rec.ID, err)
		}
	}
	return d, nil
}

func encodeData(rec *store.Incident, d data) {
	b, _ := json.Marshal(d)
	rec.Data = string(b)
}

// fromRecord is the Incident a stored one shows as.
func fromRecord(rec *store.Incident) (*Incident, error) {
	d, err := decodeData(rec)
	if err != nil {
		return nil, err
	}
	inc := &Incident{
		ID: rec.ID, State: rec.State, Severity: rec.Severity, Service: rec.Service, Environment: rec.Environment,
		Title: rec.Title, OpenedAt: rec.OpenedAt, Level: rec.Level,
		AcknowledgedAt: timePtr(rec.AcknowledgedAt), MitigatedAt: timePtr(rec.MitigatedAt),
		ResolvedAt: timePtr(rec.ResolvedAt), ClosedAt: timePtr(rec.ClosedAt),
		OpenedBy: d.OpenedBy, AcknowledgedBy: d.AcknowledgedBy, ResolvedBy: d.ResolvedBy, ClosedBy: d.ClosedBy,
		Impact: d.Impact, Alerts: d.Alerts, SuspectedCause: d.Cause,
	}
	if inc.Alerts == nil {
		inc.Alerts = []AlertRef{}
	}
	inc.TimeToAcknowledge = since(rec.OpenedAt, rec.AcknowledgedAt)
	inc.TimeToMitigate = since(rec.OpenedAt, rec.MitigatedAt)
	inc.TimeToResolve = since(rec.OpenedAt, rec.ResolvedAt)
	return inc, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func since(from, to time.Time) *float64 {
	if to.IsZero() {
		return nil
	}
	s := to.Sub(from).Seconds()
	return &s
}

// entry makes a stored timeline entry.
func entry(at time.Time, kind, key, text string, d entryData) store.IncidentEntry {
	e := store.IncidentEntry{At: at.UTC(), Kind: kind, Key: key, Text: text}
	if d.Source != "" || d.Who != "" || d.Public || len(d.Details) > 0 {
		b, _ := json.Marshal(d)
		e.Data = string(b)
	}
	return e
}

// fromEntry is the Entry a stored one shows as.
func fromEntry(e store.IncidentEntry) Entry {
	out := Entry{Time: e.At, Kind: e.Kind, Text: e.Text}
	if e.Data != "" {
		var d entryData
		if json.Unmarshal([]byte(e.Data), &d) == nil {
			out.Source, out.Who, out.Public, out.Details = d.Source, d.Who, d.Public, d.Details
		}
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// isOpen says whether state is one of OpenStates.
func isOpen(state string) bool {
	return state == StateDetected || state == StateAcknowledged || state == StateMitigating
}
