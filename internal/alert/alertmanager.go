package alert

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// AlertmanagerChannel posts alerts to an external Alertmanager's
// /api/v2/alerts, as Prometheus does; Alertmanager then groups and routes
// them itself. URL is the Alertmanager's base URL.
type AlertmanagerChannel struct {
	URL    string
	Client *http.Client
	// ValidFor, when set, dates firing alerts' endsAt that far after Now,
	// as Prometheus does: Alertmanager resolves an alert that is not
	// re-sent before then, so a dead tug does not leave it firing forever.
	ValidFor time.Duration
	Now      func() time.Time
}

var _ Channel = (*AlertmanagerChannel)(nil)

// postableAlert is Alertmanager's v2 API PostableAlert.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Send implements Channel.
func (c *AlertmanagerChannel) Send(ctx context.Context, m *Message) error {
	out := make([]postableAlert, 0, len(m.Alerts))
	for _, a := range m.Alerts {
		ends := a.EndsAt
		if ends.IsZero() && c.ValidFor > 0 {
			now := time.Now
			if c.Now != nil {
				now = c.Now
			}
			ends = now().Add(c.ValidFor).UTC()
		}
		out = append(out, postableAlert{
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			StartsAt:     a.StartsAt,
			EndsAt:       ends,
			GeneratorURL: a.GeneratorURL,
		})
	}
	return postJSON(ctx, c.Client, strings.TrimRight(c.URL, "/")+"/api/v2/alerts", out)
}
