package incident

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/logs"
	"github.com/tugdev/tug/internal/store"
)

// maxErrorLines is how many distinct new error lines a timeline gets.
const maxErrorLines = 5

// gather adds what tug knows about the incident's service in the hour
// before it and during it: changes, the suspected cause, new error log
// lines and the alert notifications sent. Entries gathered before are
// not added again. Problems with a source are logged, never fatal.
func (m *Manager) gather(ctx context.Context, id int64) {
	rec, err := m.st.GetIncident(ctx, id)
	if err != nil {
		m.log.Warn("incident context", "incident", id, "err", err)
		return
	}
	d, err := decodeData(rec)
	if err != nil {
		return
	}
	from, to := rec.OpenedAt.Add(-lookBack), m.now()
	if !rec.ResolvedAt.IsZero() {
		to = rec.ResolvedAt
	}
	var es []store.IncidentEntry
	changes := m.changes(ctx, rec.Service, rec.Environment, from, to)
	for _, c := range changes {
		key := "change:" + c.Source + ":" + c.Key
		if c.Key == "" {
			key = "change:" + hash(c.Kind, c.Time.String(), c.Text)
		}
		es = append(es, entry(c.Time, c.Kind, key, c.Text, entryData{Source: c.Source, Who: c.Who}))
	}
	if rec.Service != "" {
		es = append(es, m.errorLines(ctx, rec.Service, rec.Environment, startOf(rec, d), to)...)
	}
	es = append(es, m.notifications(ctx, d, from, to)...)
	if len(es) > 0 {
		m.addEntries(ctx, id, es...)
	}
	if d.Cause == nil {
		m.suspect(ctx, id, d, changes)
	}
}

// startOf is when an incident began, as well as tug can tell: its
// opening, or earlier the moment its first alert's condition began to
// hold, or earlier still the suspected cause.
func startOf(rec *store.Incident, d data) time.Time {
	start := rec.OpenedAt
	for _, a := range d.Alerts {
		for _, t := range []time.Time{a.ActiveAt, a.StartsAt} {
			if !t.IsZero() && t.Before(start) {
				start = t
			}
		}
	}
	if d.Cause != nil && d.Cause.Time.Before(start) {
		start = d.Cause.Time
	}
	return start
}

// changes asks every source, keeping what falls in the window, by time.
func (m *Manager) changes(ctx context.Context, service, env string, from, to time.Time) []Change {
	if service == "" {
		return nil
	}
	var out []Change
	for _, src := range m.o.Changes {
		cs, err := src.Changes(ctx, service, env, from, to)
		if err != nil {
			m.log.Warn("incident context: a change source failed", "service", service, "err", err)
		}
		for _, c := range cs {
			if !c.Time.Before(from) && !c.Time.After(to) {
				out = append(out, c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Change) int { return a.Time.Compare(b.Time) })
	return out
}

// suspect names the deploy that started last before the first alert, in
// the hour before it, as the suspected cause.
func (m *Manager) suspect(ctx context.Context, id int64, d data, changes []Change) {
	first := time.Time{}
	for _, a := range d.Alerts {
		t := a.StartsAt
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if first.IsZero() {
		return
	}
	var cause *Change
	for i := range changes {
		c := &changes[i]
		if c.Kind == KindDeploy && c.Release != "" && !c.Time.After(first) && first.Sub(c.Time) <= lookBack {
			cause = c
		}
	}
	if cause == nil {
		return
	}
	name := d.Alerts[0].Name
	text := fmt.Sprintf("suspected cause: %s (started %s before %s fired)", cause.Text, round(first.Sub(cause.Time)), name)
	_, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		if d.Cause != nil {
			return nil, nil
		}
		d.Cause = &Cause{Kind: cause.Kind, Release: cause.Release, Time: cause.Time, Text: cause.Text}
		return []store.IncidentEntry{entry(now, KindCause, "cause", text, entryData{Source: cause.Source, Who: Tug,
			Details: map[string]any{"release": cause.Release}})}, nil
	})
	if err != nil {
		m.log.Warn("incident: recording the suspected cause", "incident", id, "err", err)
	}
}

// errorWords select the log lines that report errors.
var errorWords = regexp.MustCompile(`(?i)\b(error|err|fatal|panic|exception|fail(ed|ure|ing)?|crash(ed)?|refused|timeout|timed out)\b`)

// volatile are the parts of a log line that differ between repeats of
// the same message: times, numbers, hex, quoted values.
var volatile = regexp.MustCompile(`\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?|0x[0-9a-fA-F]+|\b[0-9a-f]{8,}\b|\d+(\.\d+)?`)

// errorLines finds the error lines of the service's instances during the
// incident whose shape (numbers, times, IDs aside) did not appear in the
// hour before, and returns the most frequent with their counts.
func (m *Manager) errorLines(ctx context.Context, service, env string, from, to time.Time) []store.IncidentEntry {
	if m.o.Logs == nil {
		return nil
	}
	lines, err := m.o.Logs.Search(ctx, logs.Query{Service: service, Env: env, Since: from.Add(-lookBack), Grep: errorWords, Limit: 5000})
	if err != nil {
		m.log.Warn("incident context: logs", "service", service, "err", err)
		return nil
	}
	type seen struct {
		count       int
		first       logs.Line
		shape       string
		seenBefore  bool
		firstDuring time.Time
	}
	byShape := map[string]*seen{}
	var order []string
	for _, ln := range lines {
		if ln.Stream == logs.StreamAccess || ln.Time.After(to) {
			continue
		}
		shape := volatile.ReplaceAllString(ln.Text, "#")
		s := byShape[shape]
		if s == nil {
			s = &seen{shape: shape}
			byShape[shape] = s
			order = append(order, shape)
		}
		if ln.Time.Before(from) {
			s.seenBefore = true
			continue
		}
		if s.count == 0 {
			s.first, s.firstDuring = ln, ln.Time
		}
		s.count++
	}
	var fresh []*seen
	for _, shape := range order {
		if s := byShape[shape]; s.count > 0 && !s.seenBefore {
			fresh = append(fresh, s)
		}
	}
	slices.SortStableFunc(fresh, func(a, b *seen) int { return b.count - a.count })
	var out []store.IncidentEntry
	for _, s := range fresh[:min(len(fresh), maxErrorLines)] {
		text := fmt.Sprintf("new error log line (%s, %d times): %s", s.first.Instance, s.count, truncate(s.first.Text, 300))
		out = append(out, entry(s.firstDuring, KindLog, "log:"+hash(s.shape), text,
			entryData{Source: "logs", Details: map[string]any{"count": s.count, "instance": s.first.Instance}}))
	}
	return out
}

// notifications are the alert notifications about the incident's alerts.
func (m *Manager) notifications(ctx context.Context, d data, from, to time.Time) []store.IncidentEntry {
	if m.o.Notifier == nil || len(d.Alerts) == 0 {
		return nil
	}
	ns, err := m.o.Notifier.History(ctx, 500)
	if err != nil {
		m.log.Warn("incident context: notifications", "err", err)
		return nil
	}
	ids := map[string]bool{}
	for _, a := range d.Alerts {
		ids[a.ID] = true
	}
	var out []store.IncidentEntry
	for _, n := range ns {
		if n.At.Before(from) || n.At.After(to) {
			continue
		}
		var names []string
		for _, a := range n.Alerts {
			if ids[a.ID] {
				names = append(names, a.Name+" "+a.Status)
			}
		}
		if len(names) == 0 {
			continue
		}
		text := fmt.Sprintf("notification to %s (%s) %s: %s", n.Channel, n.Kind, n.Outcome, strings.Join(names, ", "))
		if n.Error != "" {
			text += " (" + truncate(n.Error, 200) + ")"
		}
		out = append(out, entry(n.At, KindNotification, "notification:"+strconv.FormatInt(n.ID, 10), text, entryData{Source: "notifications"}))
	}
	return out
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
