package incident

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tugdev/tug/internal/alert"
	"github.com/tugdev/tug/internal/config"
	"github.com/tugdev/tug/internal/store"
)

// ackKeyName is the store key acknowledgement tokens are signed with.
const ackKeyName = "ack-link"

// AckToken is the token that acknowledges incident id from a link in a
// notification, without an API token: an HMAC of the incident's ID under
// a key the server keeps in its store.
func (m *Manager) AckToken(ctx context.Context, id int64) (string, error) {
	m.keyOnce.Do(func() { m.key, m.keyErr = m.st.IncidentKey(context.WithoutCancel(ctx), ackKeyName) })
	if m.keyErr != nil {
		return "", m.keyErr
	}
	mac := hmac.New(sha256.New, m.key)
	fmt.Fprintf(mac, "ack:%d", id)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18]), nil
}

// checkToken says whether token acknowledges incident id.
func (m *Manager) checkToken(ctx context.Context, id int64, token string) error {
	want, err := m.AckToken(ctx, id)
	if err != nil {
		return err
	}
	if token == "" || !hmac.Equal([]byte(want), []byte(token)) {
		return fmt.Errorf("%w for incident %d", ErrBadToken, id)
	}
	return nil
}

// links are where a notification points: the incident and its
// acknowledgement link, or the commands that do the same.
type links struct {
	incident, ack, ackCommand string
}

func (m *Manager) linksFor(ctx context.Context, id int64, url string) links {
	tok, err := m.AckToken(ctx, id)
	if err != nil {
		m.log.Warn("incident: acknowledgement token", "err", err)
	}
	l := links{ackCommand: fmt.Sprintf("tug incident ack %d --token %s", id, tok)}
	if url != "" {
		base := strings.TrimRight(url, "/")
		l.incident = fmt.Sprintf("%s/api/incidents/%d", base, id)
		l.ack = fmt.Sprintf("%s/api/incidents/%d/ack-link?token=%s", base, id, tok)
		l.ackCommand = "tug incident ack " + l.ack
	}
	return l
}

// page tells the channels of the incident's current escalation level (or,
// without escalation, every declared channel) that it opened or resolved;
// for a resolution, the channels told before hear of it.
func (m *Manager) page(ctx context.Context, id int64, what string) {
	s, cfg := m.settings()
	var chans []string
	var oncall string
	rec, err := m.update(ctx, id, func(rec *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		switch {
		case what != "opened":
			chans = d.Channels
		case len(s.levels) > 0:
			rec.Level = 1
			chans = []string{s.levels[0].Channel}
			oncall = m.onCallOf(cfg, s.levels[0], now)
		default:
			chans = s.channels
		}
		for _, c := range chans {
			if !slices.Contains(d.Channels, c) {
				d.Channels = append(d.Channels, c)
			}
		}
		return nil, nil
	})
	if err != nil {
		m.log.Warn("incident: paging", "incident", id, "err", err)
		return
	}
	inc, err := fromRecord(rec)
	if err != nil {
		return
	}
	status, text := alert.StateFiring, fmt.Sprintf("Incident #%d opened: %s", id, inc.Title)
	if what == "resolved" {
		status, text = alert.StateResolved, fmt.Sprintf("Incident #%d resolved after %s: %s", id, round(inc.ResolvedAt.Sub(inc.OpenedAt)), inc.Title)
	}
	for _, ch := range chans {
		m.send(ctx, inc, ch, status, what, text, oncall, s.url)
	}
}

// escalate pages the next levels an unacknowledged incident has reached:
// level k+1 once it has waited k ack_timeouts.
func (m *Manager) escalate(ctx context.Context, rec store.Incident) {
	s, cfg := m.settings()
	if len(s.levels) < 2 {
		return
	}
	due := min(1+int(m.now().Sub(rec.OpenedAt)/s.ackTimeout), len(s.levels))
	if due <= rec.Level {
		return
	}
	var paged []int
	upd, err := m.update(ctx, rec.ID, func(r *store.Incident, d *data, now time.Time) ([]store.IncidentEntry, error) {
		if r.State != StateDetected {
			return nil, nil // acknowledged meanwhile
		}
		var out []store.IncidentEntry
		for r.Level < due {
			l := s.levels[r.Level]
			paged = append(paged, r.Level)
			r.Level++
			if !slices.Contains(d.Channels, l.Channel) {
				d.Channels = append(d.Channels, l.Channel)
			}
			text := fmt.Sprintf("escalated to level %d (%s): not acknowledged within %s", r.Level, l.Channel, time.Duration(r.Level-1)*s.ackTimeout)
			if who := m.onCallOf(cfg, l, now); who != "" {
				text += "; on call: " + who
			}
			out = append(out, entry(now, KindEscalation, "escalation:"+strconv.Itoa(r.Level), text, entryData{Who: Tug}))
		}
		return out, nil
	})
	if err != nil {
		m.log.Warn("incident: escalating", "incident", rec.ID, "err", err)
		return
	}
	inc, err := fromRecord(upd)
	if err != nil {
		return
	}
	for _, i := range paged {
		l := s.levels[i]
		text := fmt.Sprintf("Incident #%d escalated to level %d, not acknowledged within %s: %s", inc.ID, i+1, time.Duration(i)*s.ackTimeout, inc.Title)
		m.send(ctx, inc, l.Channel, alert.StateFiring, "escalated", text, m.onCallOf(cfg, l, m.now()), s.url)
	}
}

// onCallOf is who the level's rotation has on call at t ("" for none).
func (m *Manager) onCallOf(cfg *config.Config, l *config.EscalationLevel, t time.Time) string {
	if l == nil || l.Oncall == "" || cfg == nil {
		return ""
	}
	r := cfg.Oncall[l.Oncall]
	if r == nil {
		return ""
	}
	now, _, err := Shifts(r, t)
	if err != nil {
		return ""
	}
	return now.Who
}

// send notifies one channel in the background and records the outcome in
// the timeline.
func (m *Manager) send(ctx context.Context, inc *Incident, channel, status, what, text, oncall, url string) {
	if m.o.Notifier == nil {
		return
	}
	l := m.linksFor(ctx, inc.ID, url)
	msg := m.message(inc, channel, status, text, oncall, l)
	m.goBG(func(bg context.Context) {
		n, err := m.o.Notifier.Send(bg, channel, msg)
		outcome := "sent"
		if err != nil {
			outcome = "failed: " + truncate(err.Error(), 200)
		}
		line := fmt.Sprintf("incident %s: notification to %s %s", what, channel, outcome)
		if oncall != "" {
			line += " (on call: " + oncall + ")"
		}
		key := ""
		if n.ID > 0 {
			key = "notification:" + strconv.FormatInt(n.ID, 10)
		}
		m.addEntries(bg, inc.ID, entry(m.now(), KindNotification, key, line, entryData{Source: "notifications", Who: Tug,
			Details: map[string]any{"channel": channel, "attempts": n.Attempts}}))
	})
}

// message is an incident as a notification in the alert room's format:
// one alert named Incident, labelled with the incident and its service,
// whose annotations carry the text and the links.
func (m *Manager) message(inc *Incident, channel, status, text, oncall string, l links) *alert.Message {
	lbls := map[string]string{alert.LabelAlertName: "Incident", "incident": strconv.FormatInt(inc.ID, 10), alert.LabelSeverity: inc.Severity}
	if inc.Service != "" {
		lbls[alert.LabelService] = inc.Service
	}
	if inc.Environment != "" {
		lbls["environment"] = inc.Environment
	}
	ann := map[string]string{"summary": text, "description": inc.Title, "acknowledge": l.ackCommand}
	if l.incident != "" {
		ann["incident_url"], ann["ack_url"] = l.incident, l.ack
	}
	if oncall != "" {
		ann["oncall"] = oncall
	}
	if c := inc.SuspectedCause; c != nil {
		ann["suspected_cause"] = c.Text
	}
	a := &alert.Alert{Name: "Incident", State: status, Severity: inc.Severity, Labels: lbls, Annotations: ann,
		StartsAt: inc.OpenedAt, GeneratorURL: l.incident}
	a.ID = alert.Fingerprint(lbls)
	if status == alert.StateResolved && inc.ResolvedAt != nil {
		a.EndsAt = *inc.ResolvedAt
	}
	return alert.NewMessage(channel, "incident/"+strconv.FormatInt(inc.ID, 10), "", map[string]string{"incident": lbls["incident"]}, []*alert.Alert{a})
}
